// Prometheus metrics of a running pipeline: the real CLI serves /metrics, and the exposition
// text is read by an independent parser (parse-prometheus-text-format), as Prometheus would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequire } from 'node:module';
import { ROOT, freePort, launchChromium, sluice } from './helpers.ts';
import { writeColourModel } from '../src/infer/colour-model.ts';

interface Family { name: string; type: string; metrics: { value?: string; labels?: Record<string, string> }[] }
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

function value(fams: Family[], name: string, labels: Record<string, string>): number {
  const fam = fams.find((f) => f.name === name);
  assert.ok(fam, `no ${name}`);
  const m = fam.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  assert.ok(m, `no ${name}${JSON.stringify(labels)}`);
  return Number(m.value);
}

/** `sluice launch --metrics PORT --metrics-token TOKEN PIPELINE`, waiting until it prints its addresses. */
async function launchWithMetrics(token: string, pipeline: string) {
  const port = await freePort();
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'launch', '-q', '--metrics', String(port), '--metrics-token', token, pipeline], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d) => { log += d; });
  const exit = new Promise<number | null>((r) => proc.on('close', r));
  for (let i = 0; i < 100 && !/dashboard at/.test(log); i++) await sleep(50);
  return { port, proc, exit, log: () => log };
}

test('--metrics serves per-element counters, queues and latency that Prometheus can scrape, behind a token', { timeout: 60_000 }, async () => {
  const { port, proc: p, exit, log } = await launchWithMetrics('s3cret', 'testsrc live=true fps=30 num-frames=120 width=320 height=240 ! scale width=160 height=120 ! fakesink');
  const url = `http://127.0.0.1:${port}/metrics`;
  const auth = { headers: { authorization: 'Bearer s3cret' } };
  try {
    assert.match(log(), new RegExp(`metrics at http://127\\.0\\.0\\.1:${port}/metrics`));
    await sleep(500);
    const r1 = await fetch(url, auth);
    assert.equal(r1.status, 200);
    assert.match(r1.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const a = parse(await r1.text());
    await sleep(1000);
    const b = parse(await (await fetch(`${url}?token=s3cret`)).text());
    // Counters are counters, and over one second a 30 fps live source made ~30 frames.
    assert.equal(a.find((f) => f.name === 'sluice_element_frames_out_total')!.type, 'COUNTER');
    const src = { element: 'testsrc0', type: 'testsrc' };
    const made = value(b, 'sluice_element_frames_out_total', src) - value(a, 'sluice_element_frames_out_total', src);
    assert.ok(made >= 22 && made <= 40, `frames in one second: ${made}`);
    assert.ok(value(b, 'sluice_element_frames_in_total', { element: 'fakesink0' }) <= value(b, 'sluice_element_frames_out_total', src));
    assert.equal(value(b, 'sluice_element_queue_capacity', { element: 'scale0' }), 4);
    const busy = value(b, 'sluice_element_busy_seconds_total', { element: 'scale0' }) - value(a, 'sluice_element_busy_seconds_total', { element: 'scale0' });
    assert.ok(busy > 0 && busy < 1, `scale busy ${busy} s in 1 s`);
    const p50 = value(b, 'sluice_element_latency_seconds', { element: 'scale0', quantile: '0.5' });
    assert.ok(p50 > 0 && p50 < 0.5, `scale p50 ${p50}`);
    assert.equal(value(b, 'sluice_pipeline_playing', {}), 1);
    assert.ok(b.some((f) => f.name === 'sluice_process_resident_memory_bytes'));
    // Without the token, or with a wrong one: 401, for the dashboard too. Unknown paths: 404.
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer nope' } })).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${port}/nothing`, auth)).status, 404);
  } finally {
    p.kill('SIGINT');
  }
  assert.equal(await exit, 0, log());
  // The endpoint goes away with the pipeline.
  await assert.rejects(fetch(url, auth));
});

test('--metrics with a bad address fails before start with a coded error', async () => {
  const r = await sluice(['launch', '--metrics', 'nine', 'testsrc num-frames=5 ! fakesink']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SLUICE_ERR_PROPERTY: --metrics takes \[HOST:\]PORT/);
});

test('the dashboard in Chromium: live per-element rates over the last second, the verdict and the graph', { timeout: 90_000 }, async () => {
  // A live 30 fps source (endless: the test stops it with Ctrl-C).
  const { port, proc: p, exit, log } = await launchWithMetrics('tok', 'testsrc live=true fps=30 width=1280 height=720 ! scale width=1920 height=1080 method=bicubic ! fakesink');
  const browser = await launchChromium();
  try {
    const url = /dashboard at (\S+)/.exec(log())?.[1] ?? '';
    assert.equal(url, `http://127.0.0.1:${port}/?token=tok`);
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction('window.sluiceDashboard.updates >= 3 && window.sluiceDashboard.last.wallSeconds >= 4.5 && window.sluiceDashboard.graph', undefined, { timeout: 30_000 });
    const d = await page.evaluate('window.sluiceDashboard') as { rows: Record<string, { fps: number; busy: number; framesOut: number }> };
    assert.deepEqual(Object.keys(d.rows), ['testsrc0', 'scale0', 'fakesink0']);
    // Rates over the last interval (after start-up's catch-up burst): the live source's 30 fps.
    assert.ok(Math.abs(d.rows.testsrc0!.fps - 30) < 8, `testsrc fps ${d.rows.testsrc0!.fps} ${JSON.stringify(d)}`);
    assert.ok(d.rows.scale0!.busy > 0 && d.rows.scale0!.busy <= 1);
    // What the page shows: one row per element, the verdict, and the graph with every element.
    assert.equal(await page.locator('#rows tr').count(), 3);
    assert.ok((await page.locator('#verdict').textContent())!.length > 10);
    const svgText = await page.locator('#graph svg').textContent();
    for (const n of ['testsrc0', 'scale0', 'fakesink0']) assert.ok(svgText!.includes(n), `graph lacks ${n}`);
  } finally {
    await browser.close();
    p.kill('SIGINT');
  }
  assert.equal(await exit, 0, log());
});

test('--metrics says how infer runs: provider, batch, compiled or not, calls and frames per call', { timeout: 60_000 }, async () => {
  const { model } = writeColourModel(64, 48);
  const { port, proc: p, exit, log } = await launchWithMetrics('t', `testsrc live=true fps=30 num-frames=150 width=320 height=240 ! infer model=${model} ep=cpu ! fakesink`);
  try {
    await sleep(1500);
    const f = parse(await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer t' } })).text());
    const info = f.find((x) => x.name === 'sluice_element_info')!;
    const has = (key: string, v: string) => info.metrics.some((m) => m.labels?.element === 'infer0' && m.labels.key === key && m.labels.value === v);
    assert.ok(has('ep', 'cpu') && has('precision', 'fp32'), JSON.stringify(info.metrics));
    assert.ok(info.metrics.some((m) => m.labels?.key === 'compiled' && /built|cached/.test(m.labels.value ?? '')), JSON.stringify(info.metrics));
    assert.equal(value(f, 'sluice_element_resolved', { element: 'infer0', key: 'batch' }), 1);
    assert.ok(value(f, 'sluice_element_resolved', { element: 'infer0', key: 'calls' }) >= 20);
    assert.equal(value(f, 'sluice_element_resolved', { element: 'infer0', key: 'framesPerCall' }), 1);
  } finally {
    p.kill('SIGINT');
  }
  assert.equal(await exit, 0, log());
});
