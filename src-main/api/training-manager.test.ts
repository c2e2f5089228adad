// The API's TrainConfig as the engine receives it: only what the person chose, engine defaults for the rest.
import { describe, expect, it } from 'vitest';
import { TrainConfig } from '../../src-shared/contract';
import { trainOptions } from './training-manager';

describe('trainOptions', () => {
  it('passes two CPU cores through as threads, and one core as nothing', () => {
    expect(trainOptions(TrainConfig.parse({ threads: 2 })).threads).toBe(2);
    expect('threads' in trainOptions(TrainConfig.parse({ threads: 1 }))).toBe(false);
    expect('threads' in trainOptions(TrainConfig.parse({}))).toBe(false);
  });

  it('sends freezeBackbone only with starting weights', () => {
    expect('freezeBackbone' in trainOptions(TrainConfig.parse({ freezeBackbone: true }))).toBe(false);
    expect(trainOptions(TrainConfig.parse({ pretrained: 'imagenet:resnet18', freezeBackbone: true }))).toMatchObject({
      pretrained: 'imagenet:resnet18',
      freezeBackbone: true,
    });
  });
});
