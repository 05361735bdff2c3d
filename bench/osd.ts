// osd cost per 1080p frame with 50 boxes, labels and trails (the element's own time per frame
// from the pipeline report). node bench/osd.ts
import { launch, type Box } from '../src/index.ts';

for (const [labels, trails] of [[true, 0], [false, 0], [true, 30], [true, 0], [false, 0], [true, 30]] as const) {
  const p = launch(`testsrc pattern=black width=1920 height=1080 num-frames=300 ! osd labels=${labels} trails=${trails} ! fakesink`, { statsIntervalMs: 0 });
  p.addProbe('testsrc0.src', (f) => {
    f.meta.objects = Array.from({ length: 50 }, (_, i) => {
      const x = (i % 10) * 190 + 10 + (f.frame % 20), y = Math.floor(i / 10) * 210 + 30;
      return { class: i % 5, label: 'person', score: 0.87, track: i + 1, box: [x, y, x + 120, y + 170] as Box, attributes: {} };
    });
  });
  const r = await p.run();
  const e = r.elements.osd0!;
  console.log(`1080p, 50 boxes${labels ? ' + labels' : ''}${trails ? ` + ${trails}-point trails` : ''}: osd p50 ${e.latencyMs.p50.toFixed(2)} ms, p99 ${e.latencyMs.p99.toFixed(2)} ms per frame`);
}
