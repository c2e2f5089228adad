// Output files are written atomically (temp file in the same folder + fsync + rename), so a crash
// never leaves a half-written samples.csv or run.json behind.
import writeFileAtomic from 'write-file-atomic';

export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomic(file, data as string | Buffer, { fsync: true });
}

export function writeAtomicSync(file: string, data: string | Uint8Array): void {
  writeFileAtomic.sync(file, data as string | Buffer, { fsync: true });
}
