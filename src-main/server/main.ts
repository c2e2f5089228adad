// Standalone server entry for tests and scripts: `tsx src-main/server/main.ts [--port P] [--dataset D]`.
// Prints one JSON line {url, origin, token, port, projectId} on stdout once listening.
import { startServer } from './server';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

const srv = await startServer({
  port: Number(arg('--port') ?? 0),
  dataset: arg('--dataset'),
  token: process.env.MOPRO_TOKEN,
});
process.stdout.write(
  JSON.stringify({ url: srv.url, origin: srv.origin, token: srv.token, port: srv.port, projectId: srv.projectId }) +
    '\n',
);
const stop = () => {
  void srv.close().finally(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
