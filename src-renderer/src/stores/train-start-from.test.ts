// Train panel "Start from" / "Freeze backbone" -> the API's TrainConfig (and the service accepts it).
import { describe, expect, it } from 'vitest';
import { TrainConfig } from '@shared/contract';
import { configFromForm, defaultForm, TWO_CORES_MIN_IMAGES, type TrainForm } from './train';

// a freeze request that only counts once the weights do not start from scratch
const base: TrainForm = { ...defaultForm(3), freezeBackbone: true };

describe('train form: start from', () => {
  it('scratch sends no weights and no freeze', () => {
    const c = configFromForm(base);
    expect(c.pretrained).toBeUndefined();
    expect(c.initRun).toBeUndefined();
    expect(c.freezeBackbone).toBeUndefined();
  });
  it('ImageNet names, a file path, an earlier run', () => {
    expect(configFromForm({ ...base, startFrom: 'imagenet:resnet50' })).toMatchObject({
      pretrained: 'imagenet:resnet50',
      freezeBackbone: true,
    });
    expect(
      configFromForm({ ...base, startFrom: 'file', weightsFile: ' /w/m.safetensors ', freezeBackbone: false }),
    ).toMatchObject({ pretrained: '/w/m.safetensors' });
    expect(
      configFromForm({ ...base, startFrom: 'file', weightsFile: ' ', freezeBackbone: false }).pretrained,
    ).toBeUndefined();
    const r = configFromForm({ ...base, startFrom: 'run', initRun: '20261201T1200-mopro-ab12' });
    expect(r).toMatchObject({ initRun: '20261201T1200-mopro-ab12', freezeBackbone: true });
    expect(r.pretrained).toBeUndefined();
    expect(TrainConfig.parse(r)).toMatchObject({ initRun: '20261201T1200-mopro-ab12', freezeBackbone: true });
  });

  it('two CPU cores send threads 2, which the API accepts; otherwise no threads field', () => {
    expect(configFromForm(base).threads).toBeUndefined();
    const c = configFromForm({ ...base, twoCores: true });
    expect(c.threads).toBe(2);
    expect(TrainConfig.parse(c).threads).toBe(2);
    expect(() => TrainConfig.parse({ ...c, threads: 0 })).toThrow();
  });

  it('two CPU cores are the default from TWO_CORES_MIN_IMAGES images up, not below nor before a folder is open', () => {
    expect(defaultForm(5, 10_000).twoCores).toBe(true);
    expect(configFromForm(defaultForm(5, TWO_CORES_MIN_IMAGES)).threads).toBe(2);
    expect(defaultForm(6, TWO_CORES_MIN_IMAGES - 1).twoCores).toBe(false);
    expect(defaultForm(6, 2000).twoCores).toBe(false);
    expect(defaultForm(6).twoCores).toBe(false);
  });
});
