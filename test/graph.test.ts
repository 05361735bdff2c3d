// `sluice graph` and SLUICE_DEBUG_DUMP_DOT_DIR: the DOT is checked by laying it out with
// Graphviz itself (compiled to WebAssembly), and the SVG is read for every element and link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { sluice, tmp } from './helpers.ts';

const PIPE = 'testsrc num-frames=60 ! tee name=t ! queue leaky=oldest max-size=2 ! scale width=320 ! fakesink t. ! fakesink';

function svgShape(svg: string): { nodes: string[]; edges: string[] } {
  const titles = (cls: string) => [...svg.matchAll(new RegExp(`<g id="[^"]+" class="${cls}">\\s*<title>([^<]+)</title>`, 'g'))].map((m) => m[1]!.replace(/&#45;/g, '-').replace(/&gt;/g, '>'));
  return { nodes: titles('node'), edges: titles('edge') };
}

test('sluice graph: every element, pad and link of a launch line, as DOT that Graphviz lays out, and as SVG', async () => {
  const r = await sluice(['graph', PIPE]);
  assert.equal(r.code, 0, r.stderr);
  const gv = await Graphviz.load();
  const { nodes, edges } = svgShape(gv.dot(r.stdout));
  assert.deepEqual(nodes.sort(), ['fakesink0', 'fakesink1', 'queue0', 'scale0', 't', 'testsrc0']);
  assert.deepEqual(edges.sort(), ['queue0:src->scale0:sink', 'scale0:src->fakesink0:sink_0', 't:src_0->queue0:sink_0', 't:src_1->fakesink1:sink_0', 'testsrc0:src->t:sink']);
  // Only properties that differ from their defaults are listed.
  assert.match(r.stdout, /leaky=oldest/);
  assert.match(r.stdout, /max-size=2/);
  assert.doesNotMatch(r.stdout, /pattern=objects/);
  // SVG straight from the CLI, and YAML input.
  const dir = tmp();
  writeFileSync(join(dir, 'p.yaml'), `pipeline: "${PIPE}"\n`);
  const s = await sluice(['graph', '--yaml', join(dir, 'p.yaml'), '-f', 'svg', '-o', join(dir, 'p.svg')]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(svgShape(readFileSync(join(dir, 'p.svg'), 'utf8')).edges.length, 5);
  // A bad pipeline is reported like launch does, and nothing is drawn.
  const bad = await sluice(['graph', 'testsrc ! scale widht=3 ! fakesink']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /SLUICE_ERR_PROPERTY[\s\S]*\^/);
  assert.equal(bad.stdout, '');
});

test('SLUICE_DEBUG_DUMP_DOT_DIR: one graph per state change, named as GStreamer does; the last has the run\'s rates', async () => {
  const dir = tmp();
  const r = await sluice(['launch', '-q', PIPE], { env: { ...process.env, SLUICE_DEBUG_DUMP_DOT_DIR: dir } });
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(dir).sort();
  assert.deepEqual(files.map((f) => f.replace(/^\d+\.\d\d\.\d\d\.\d{9}-/, '')), ['sluice.NULL_READY.dot', 'sluice.READY_PAUSED.dot', 'sluice.PAUSED_PLAYING.dot', 'sluice.PLAYING_NULL.dot']);
  const gv = await Graphviz.load();
  for (const f of files) assert.equal(svgShape(gv.dot(readFileSync(join(dir, f), 'utf8'))).nodes.length, 6, f);
  const last = readFileSync(join(dir, files.at(-1)!), 'utf8');
  // 60 frames went to both branches; the leaky queue's figures are in its box.
  assert.match(last, /testsrc0<\/B>[\s\S]*?\d+\.\d fps · busy \d+%/);
  assert.match(last, /queue0<\/B>[\s\S]*?queue \d\/2/);
  // And `sluice graph --dot` renders a dump.
  const s = await sluice(['graph', '--dot', join(dir, files.at(-1)!), '-f', 'svg']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(svgShape(s.stdout).nodes.length, 6);
});
