// Which training backends load here. The native tensorflow packages are optional dependencies that are often
// missing: offering them would only produce a failed run.
import path from 'node:path';
import { createRequire } from 'node:module';
import { appRoot } from '../paths';

export interface BackendAvailability {
  available: string[];
  unavailable: { name: string; why: string }[];
}

export function backendAvailability(): BackendAvailability {
  const req = createRequire(path.join(appRoot(), 'package.json'));
  const has = (pkg: string): boolean => {
    try {
      req.resolve(pkg);
      return true;
    } catch {
      return false;
    }
  };
  const available = ['auto'];
  const unavailable: { name: string; why: string }[] = [];
  if (has('@tensorflow/tfjs-node-gpu') || has('@tensorflow/tfjs-node')) available.push('tensorflow');
  else
    unavailable.push({
      name: 'tensorflow',
      why: 'not installed (the optional @tensorflow/tfjs-node package did not install here)',
    });
  // installed is all this says: whether a GPU adapter answers is found out when a run starts (backend event)
  if (has('webgpu') && has('@tensorflow/tfjs-backend-webgpu')) available.push('webgpu');
  else
    unavailable.push({
      name: 'webgpu',
      why: 'not installed (the webgpu / @tensorflow/tfjs-backend-webgpu packages are missing)',
    });
  if (has('@tensorflow/tfjs-backend-wasm')) available.push('wasm');
  else unavailable.push({ name: 'wasm', why: 'not installed (@tensorflow/tfjs-backend-wasm is missing)' });
  available.push('cpu');
  return { available, unavailable };
}
