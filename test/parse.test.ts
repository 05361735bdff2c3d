import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLaunch, parseYaml, buildPipeline, defaultRegistry, SluiceError } from '../src/index.ts';

const reg = defaultRegistry();
const build = (t: string) => buildPipeline(parseLaunch(t), reg);

/** The column the caret points at, read from the error's detail. */
function caretCol(e: SluiceError): number {
  const lines = e.detail!.split('\n');
  return lines[1]!.indexOf('^') - 2; // 0-based; detail lines are indented by two spaces
}

test('launch: chains, properties, quoted values, names and references', () => {
  const spec = parseLaunch('testsrc num-frames=5 pattern="bars" ! tee name=t t. ! queue ! fakesink t.src_1 ! queue max-size=2 ! fakesink');
  assert.deepEqual(spec.elements.map((e) => e.type), ['testsrc', 'tee', 'queue', 'fakesink', 'queue', 'fakesink']);
  assert.deepEqual(spec.elements[0]!.props.map((p) => [p.key, p.value]), [['num-frames', '5'], ['pattern', 'bars']]);
  assert.equal(spec.elements[1]!.name, 't');
  assert.equal(spec.links.length, 5);
  assert.deepEqual([spec.links[1]!.from.ref, spec.links[1]!.from.pad], ['t', undefined]);
  assert.deepEqual([spec.links[3]!.from.ref, spec.links[3]!.from.pad], ['t', 'src_1']);
  const p = build('testsrc num-frames=5 ! tee name=t t. ! queue ! fakesink t.src_1 ! queue max-size=2 ! fakesink');
  assert.deepEqual(p.get('t')!.srcPads.map((x) => x.name), ['src_0', 'src_1']);
  assert.equal(p.get('queue1')!.props.maxSize, 2);
  // Quoted values keep spaces; single quotes work too.
  const q = parseLaunch(`file location="/tmp/a b.mp4" format='mp4'`);
  assert.equal(q.elements[0]!.props[0]!.value, '/tmp/a b.mp4');
  assert.equal(q.elements[0]!.props[1]!.value, 'mp4');
});

test('launch: unknown element named with a caret under it', () => {
  const text = 'testsrc ! nosuch ! fakesink';
  assert.throws(() => build(text), (e: SluiceError) => {
    assert.equal(e.code, 'SLUICE_ERR_NO_ELEMENT');
    assert.match(e.message, /"nosuch"/);
    assert.equal(caretCol(e), text.indexOf('nosuch'));
    assert.match(e.detail!, /\^{6}/);
    return true;
  });
  assert.throws(() => build('testsrc ! fakesnk'), /did you mean "fakesink"/);
});

test('launch: bad property values name the property and the allowed values', () => {
  const text = 'testsrc pattern=stripes ! fakesink';
  assert.throws(() => build(text), (e: SluiceError) => {
    assert.equal(e.code, 'SLUICE_ERR_PROPERTY');
    assert.match(e.message, /"pattern"/);
    assert.match(e.message, /objects, bars, noise, black/);
    assert.equal(caretCol(e), text.indexOf('stripes'));
    return true;
  });
  assert.throws(() => build('testsrc width=abc ! fakesink'), /"width".*a number/);
  assert.throws(() => build('testsrc width=-5 ! fakesink'), /"width".*at least 16/);
  assert.throws(() => build('testsrc colour=red ! fakesink'), (e: SluiceError) => e.code === 'SLUICE_ERR_PROPERTY' && /no property "colour"/.test(e.message));
  assert.throws(() => build('testsrc num_frams=3 ! fakesink'), /did you mean "num-frames"/);
});

test('launch: syntax errors point at the column', () => {
  const cases: [string, RegExp, number][] = [
    ['testsrc ! ! fakesink', /unexpected "!"/, 10],
    ['testsrc !', /ends after "!"/, 9],
    ['testsrc location="x ! fakesink', /unterminated quote/, 17],
    ['num-frames=3 ! fakesink', /no element before it/, 0],
  ];
  for (const [text, re, col] of cases) {
    assert.throws(() => build(text), (e: SluiceError) => {
      assert.equal(e.code, 'SLUICE_ERR_PARSE', text);
      assert.match(e.message, re);
      assert.equal(caretCol(e), col, text);
      return true;
    });
  }
});

test('yaml: list form with branches and joins builds the same graph as launch', () => {
  const y = `
elements:
  - testsrc: { num-frames: 5, pattern: bars }
  - tee: { name: t }
  - queue: {}
  - fakesink: { name: a }
  - queue: { from: t, max_size: 2 }
  - fakesink
`;
  const p = buildPipeline(parseYaml(y, 'p.yaml', reg), reg);
  assert.deepEqual(p.nodes.map((n) => n.name), ['testsrc0', 't', 'queue0', 'a', 'queue1', 'fakesink0']);
  assert.equal(p.get('queue1')!.props.maxSize, 2, 'underscore spelling works');
  assert.equal(p.get('testsrc0')!.props.numFrames, 5);
  assert.equal(p.get('queue1')!.sinkPads[0]!.peer!.element.name, 't');
  const l = buildPipeline(parseYaml('pipeline: "testsrc num-frames=3 ! fakesink"\n', 'l.yaml', reg), reg);
  assert.deepEqual(l.nodes.map((n) => n.def.name), ['testsrc', 'fakesink']);
});

test('yaml: errors carry file:line:column and a caret', () => {
  const y = 'elements:\n  - testsrc: { pattern: stripes }\n  - fakesink\n';
  assert.throws(() => buildPipeline(parseYaml(y, 'bad.yaml', reg), reg), (e: SluiceError) => {
    assert.equal(e.code, 'SLUICE_ERR_PROPERTY');
    assert.match(e.detail!, /bad\.yaml:2:25/);
    return true;
  });
  assert.throws(() => buildPipeline(parseYaml('elements:\n  - testsrc\n  - nosuch: {}\n', 'b.yaml', reg), reg), (e: SluiceError) => e.code === 'SLUICE_ERR_NO_ELEMENT' && /b\.yaml:3:5/.test(e.detail!));
  assert.throws(() => parseYaml('elements: [testsrc\n', 'c.yaml', reg), (e: SluiceError) => e.code === 'SLUICE_ERR_YAML' && /c\.yaml:\d+:\d+/.test(e.detail!));
  assert.throws(() => parseYaml('elemnts: []\n', 'd.yaml', reg), (e: SluiceError) => e.code === 'SLUICE_ERR_YAML' && /unknown top-level key "elemnts"/.test(e.message) && /d\.yaml:1:1/.test(e.detail!));
  assert.throws(() => buildPipeline(parseYaml('pipeline: "testsrc ! nosuch"\n', 'e.yaml', reg), reg), (e: SluiceError) => e.code === 'SLUICE_ERR_NO_ELEMENT' && /e\.yaml:1:22/.test(e.detail!));
});
