import cliProgress from 'cli-progress';

/** The run's two progress bars on a terminal; nothing when output goes to a file or a pipe. */
export interface RunProgress {
  /** `slices`: the results recorded in the slices table, done and failed, as the run's summary counts them. */
  update(stfs: number, slices: number): void;
  /** A line said above the bars (on a terminal) or on stderr: e.g. that the run waits for DynamoDB. */
  note(line: string): void;
  stop(): void;
  readonly shown: boolean;
}

export function runProgress(expectedStfs: number, expectedSlices: number): RunProgress {
  if (!process.stderr.isTTY)
    return { update() {}, note: (line) => console.error(line), stop() {}, shown: false };
  const bars = new cliProgress.MultiBar(
    { format: ' {label} |{bar}| {value}/{total}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  const stfBar = bars.create(expectedStfs, 0, { label: 'STFs generated ' });
  const sliceBar = bars.create(expectedSlices, 0, { label: 'slices recorded' });
  return {
    update(stfs, slices) {
      stfBar.update(stfs);
      sliceBar.update(slices);
    },
    note: (line) => bars.log(`${line}\n`),
    stop: () => bars.stop(),
    shown: true,
  };
}
