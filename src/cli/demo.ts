// The demo pipeline: runs anywhere with nothing downloaded. Later work (detection, tracking,
// drawing) extends this same line.
export function demoPipeline(o: { out: string; frames: number }): string {
  const meta = o.out.replace(/\.[^.]+$/, '') + '-meta.jsonl';
  return [
    `testsrc pattern=objects width=1280 height=720 num-objects=6 num-frames=${o.frames}`,
    '! scale width=960 height=540',
    '! tee name=t',
    `t. ! queue ! file location=${o.out}`,
    `t. ! queue ! meta location=${meta}`,
  ].join(' ');
}
