// Commander options built from a zod object whose fields carry a CliFlag (src-shared/train-options.ts), and argv
// validated by that same schema: the flag, its help, choices and default are written once, beside the field.
import { Option, type Command } from 'commander';
import { z } from 'zod';
import type { CliFlag } from '../src-shared/train-options';

type Registry = z.core.$ZodRegistry<CliFlag>;

/** The field under .optional() / .default(): what the flag's value is parsed and described as. */
function base(field: z.ZodType): z.ZodType {
  let f = field;
  while (f instanceof z.ZodOptional || f instanceof z.ZodDefault) f = f.unwrap() as z.ZodType;
  return f;
}

function flagged(schema: z.ZodObject, flags: Registry): [string, z.ZodType, CliFlag][] {
  return Object.entries(schema.shape).flatMap(([key, field]) => {
    const f = flags.get(field as z.ZodType);
    return f ? [[key, field as z.ZodType, f] as [string, z.ZodType, CliFlag]] : [];
  });
}

/** Adds one option per flagged field of `schema`, in the schema's order; an enum lists its choices, a default is shown. */
export function addSchemaOptions(cmd: Command, schema: z.ZodObject, flags: Registry): Command {
  for (const [key, field, f] of flagged(schema, flags)) {
    const opt = new Option(f.flag, f.help);
    if (opt.attributeName() !== key) throw new Error(`flag ${f.flag} does not name the field ${key}`);
    const b = base(field);
    // the choices show in the help; the value itself is checked by the schema, like every other one
    if (b instanceof z.ZodEnum) opt.choices(b.options.map(String)).argParser((v: string) => v);
    const dflt = field.safeParse(undefined);
    if (dflt.success && dflt.data !== undefined) opt.default(dflt.data);
    cmd.addOption(opt);
  }
  return cmd;
}

/** Why a value does not fit, in the words commander and the CLI's integer options use for the other commands. */
function problem(flag: string, field: z.ZodType, tooBig: boolean, message: string): string {
  const long = flag.split(' ')[0]!;
  const b = base(field);
  if (b instanceof z.ZodEnum) return `Allowed choices are ${b.options.join(', ')}.`;
  if (b instanceof z.ZodNumber) {
    const bounded = (v: number | null): v is number => v !== null && Math.abs(v) < Number.MAX_SAFE_INTEGER;
    if (tooBig && bounded(b.maxValue)) return `${long} must be at most ${b.maxValue}`;
    return `${long} must be ${b.isInt ? 'an integer' : 'a number'}${bounded(b.minValue) ? ` >= ${b.minValue}` : ''}`;
  }
  return `${long}: ${message}`;
}

/**
 * Commander's values (strings for valued flags, true for switches) as the schema's output: numbers parsed,
 * defaults filled in. A bad value throws one line naming the flag, the value and what it takes, worded as commander
 * words its own (`option '--epochs <n>' argument 'zero' is invalid. --epochs must be an integer >= 1`).
 */
export function parseSchemaOptions<S extends z.ZodObject>(
  schema: S,
  flags: Registry,
  raw: Record<string, unknown>,
): z.output<S> {
  const fields = new Map(flagged(schema, flags).map(([key, field, f]) => [key, { field, f }]));
  const input: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(raw)) {
    const spec = fields.get(key);
    if (!spec) continue; // options of the command the schema does not describe
    input[key] = typeof v === 'string' && base(spec.field) instanceof z.ZodNumber ? Number(v) : v;
  }
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const key = String(issue.path[0] ?? '');
  const spec = fields.get(key);
  if (!spec) throw new Error(`${key || 'options'}: ${issue.message}`);
  const why = problem(spec.f.flag, spec.field, issue.code === 'too_big', issue.message);
  throw new Error(`option '${spec.f.flag}' argument '${String(raw[key])}' is invalid. ${why}`);
}
