// The train command's options come from TrainArgs: every field is a flag with its help, choices and default, and
// argv is validated by the schema with one line naming the flag.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cliFlags, TrainArgs } from '../src-shared/train-options';
import { TrainConfig } from '../src-shared/contract';
import { addSchemaOptions, parseSchemaOptions } from './cli-options';
import { buildProgram } from './cli';

const train = () => buildProgram().commands.find((c) => c.name() === 'train')!;

describe('train options built from TrainArgs', () => {
  it('every field is one flag, in the schema order, with its help and the API default', () => {
    const opts = train().options;
    expect(opts.map((o) => o.attributeName())).toEqual(Object.keys(TrainArgs.shape));
    for (const o of opts) {
      const f = cliFlags.get(TrainArgs.shape[o.attributeName() as keyof typeof TrainArgs.shape])!;
      expect(o.flags).toBe(f.flag);
      expect(o.description).toBe(f.help);
      // a switch takes no value, every other field takes one
      expect(o.required).toBe(
        !(TrainArgs.shape[o.attributeName() as keyof typeof TrainArgs.shape].unwrap() instanceof z.ZodBoolean),
      );
    }
    const method = opts.find((o) => o.long === '--method')!;
    expect(method.argChoices).toEqual(['mopro', 'ce']);
    expect(method.defaultValue).toBe(TrainConfig.parse({}).method);
    expect(opts.find((o) => o.long === '--status-rule')!.defaultValue).toBe('best');
    expect(opts.find((o) => o.long === '--epochs')!.defaultValue).toBeUndefined();
  });

  it('the flags of TrainConfig are not registered on its own fields', () => {
    expect(cliFlags.get(TrainConfig.shape.method)).toBeUndefined();
  });

  it('parses values: numbers, switches, defaults; options the schema does not describe are left out', async () => {
    let got: unknown;
    const cmd = addSchemaOptions(new Command('t').exitOverride(), TrainArgs, cliFlags).action((o) => {
      got = parseSchemaOptions(TrainArgs, cliFlags, { ...o, other: 'x' });
    });
    await cmd.parseAsync(['--epochs', '3', '--image-size', '32', '--resume', '--sampling', 'balanced', '--out', 'r'], {
      from: 'user',
    });
    expect(got).toEqual({
      out: 'r',
      epochs: 3,
      imageSize: 32,
      resume: true,
      sampling: 'balanced',
      method: 'mopro',
      backend: 'auto',
      pretrain: 'none',
      statusRule: 'best',
    });
  });

  it("a bad value is one line naming the flag, the value and what it takes, in commander's words", () => {
    const bad = (raw: Record<string, unknown>) => () => parseSchemaOptions(TrainArgs, cliFlags, raw);
    expect(bad({ epochs: 'zero' })).toThrow(
      "option '--epochs <n>' argument 'zero' is invalid. --epochs must be an integer >= 1",
    );
    expect(bad({ epochs: '1.5' })).toThrow(/'--epochs <n>' argument '1.5' .* --epochs must be an integer >= 1$/);
    expect(bad({ imageSize: '600' })).toThrow(
      /'--image-size <px>' argument '600' .* --image-size must be at most 512$/,
    );
    expect(bad({ imageSize: '4' })).toThrow(/--image-size must be an integer >= 8$/);
    expect(bad({ seed: '-1' })).toThrow(/'--seed <n>' .* --seed must be an integer >= 0$/);
    expect(bad({ backend: 'gpu' })).toThrow(
      /'--backend <name>' argument 'gpu' is invalid. Allowed choices are auto, tensorflow, webgpu, wasm, cpu.$/,
    );
    expect(bad({ method: 'moco' })).toThrow(/'--method <m>' argument 'moco' .* Allowed choices are mopro, ce.$/);
    expect(() => parseSchemaOptions(TrainArgs, cliFlags, { epochs: 'x', seed: 'y' })).toThrow(/^[^\n]*$/);
  });

  it('a flag that does not name its field is refused when the command is built', () => {
    const reg = z.registry<{ flag: string; help: string }>();
    const s = z.object({ batchSize: z.number().optional().register(reg, { flag: '--batch <n>', help: 'h' }) });
    expect(() => addSchemaOptions(new Command('t'), s, reg)).toThrow(/--batch <n> does not name the field batchSize/);
  });
});
