// Helpers the browser suites share: the API called directly (to set up or check state) and the grid's match count.
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import type { RunningServer } from '../../src-main/server/server';
import type { MethodName, MethodResult } from '../../src-shared/contract';

export async function callApi<M extends MethodName>(
  srv: RunningServer,
  method: M,
  body: object,
): Promise<MethodResult<M>> {
  const res = await fetch(`${srv.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mopro-token': srv.token },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method}: ${res.status} ${JSON.stringify(json)}`);
  return json as MethodResult<M>;
}

/** The "N shown" count above the grid, once it shows a number. */
export async function matchCount(page: Page): Promise<number> {
  const el = page.getByTestId('match-count');
  await expect.poll(async () => (await el.textContent())?.trim() ?? '…', { timeout: 15_000 }).toMatch(/^[\d,]+ shown$/);
  return Number((await el.textContent())!.replace(/[^\d]/g, ''));
}
