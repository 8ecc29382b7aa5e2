import type { WorkflowConfig } from '#config/workflow.ts';

/** DAQ states and substates, as upstream's DAQ simulator names them. */
export type DaqState = 'no_beam' | 'beam' | 'run';
export type DaqSubstate = 'not_ready' | 'ready' | 'physics' | 'standby';
/** The state broadcasts of the DAQ simulator (STFs are announced by `stf_gen`). */
export type DaqBroadcast = 'run_imminent' | 'start_run' | 'resume_run' | 'pause_run' | 'end_run';

interface StepBase {
  /** Simulated time of the step, in ms since the run's simulation started (tick 0). */
  readonly atMs: number;
  /** 1-based physics period the step belongs to; 0 before the first. */
  readonly period: number;
  /** The DAQ state once the step is done. */
  readonly state: DaqState;
  readonly substate: DaqSubstate;
}

/** One thing the DAQ simulator does at a simulated time; waiting is the gap between steps. */
export type DaqStep =
  | (StepBase & { readonly kind: 'broadcast'; readonly msgType: DaqBroadcast })
  | (StepBase & {
      readonly kind: 'stf';
      /** 1-based, as upstream numbers STFs. */
      readonly sequence: number;
      /** The STF's data window is [startMs, atMs]; it is announced at its end. */
      readonly startMs: number;
      /** When generating the file starts: the last `stf_generation_time` of the window. */
      readonly generateAtMs: number;
    })
  /** Back to no_beam/not_ready after the end-of-run delay; no message. */
  | (StepBase & { readonly kind: 'finish' });

export interface DaqPlan {
  readonly steps: readonly DaqStep[];
  readonly stfsPerPeriod: number;
  readonly stfCount: number;
  /** Simulated length of the whole run, from tick 0 to the final no_beam/not_ready. */
  readonly durationMs: number;
}

const ms = (seconds: number): number => Math.round(seconds * 1000);

/** STFs in one physics period: `stf_count` ('count' mode), or as many stf_intervals as fit its duration. */
export function stfsPerPeriod(simulation: WorkflowConfig['simulation']): number {
  return simulation.stf_mode === 'count'
    ? simulation.stf_count
    : Math.floor(ms(simulation.physics_period_duration) / ms(simulation.stf_interval));
}

/**
 * Why a configuration cannot make a run, in the words of its keys; undefined when it can. The CLI asks
 * before it starts anything, the DAQ simulator (Lambda) when it is invoked.
 */
export function whyNoRun(config: WorkflowConfig): string | undefined {
  const sim = config.simulation;
  // Upstream runs forever then, until told to stop; nothing can stop a self-chaining Lambda yet.
  if (sim.physics_period_count === 0)
    return 'simulation.physics_period_count = 0 (endless run) is not supported: give a number of periods';
  if (stfsPerPeriod(sim) > 0) return undefined;
  return sim.stf_mode === 'count'
    ? 'simulation.stf_count = 0: the run would have no STF to process; give 1 or more'
    : `simulation.physics_period_duration ${sim.physics_period_duration} s is shorter than one ` +
        `stf_interval (${sim.stf_interval} s): the run would have no STF to process`;
}

/**
 * The whole run as upstream's DAQ simulator walks it:
 * no_beam/not_ready (no_beam_not_ready_delay) -> beam/not_ready with run_imminent (beam_not_ready_delay)
 * -> beam/ready (beam_ready_delay) -> per physics period run/physics with start_run or resume_run and its
 * STFs, run/standby with pause_run (standby_duration) between periods -> end_run, beam/not_ready
 * (beam_not_ready_end_delay) -> no_beam/not_ready. Each state broadcast is followed by broadcast_delay;
 * STFs come one per stf_interval, each announced at the end of its data window.
 * Deterministic in the configuration, so a chained invocation rebuilds the same plan and resumes by index.
 */
export function planRun(config: WorkflowConfig): DaqPlan {
  const daq = config.daqStateMachine;
  const sim = config.simulation;
  const refusal = whyNoRun(config);
  if (refusal !== undefined) throw new Error(refusal);
  const perPeriod = stfsPerPeriod(sim);
  const interval = ms(sim.stf_interval);
  const generation = Math.min(ms(sim.stf_generation_time), interval);
  const steps: DaqStep[] = [];
  let t = ms(daq.no_beam_not_ready_delay);
  let sequence = 0;
  const broadcast = (msgType: DaqBroadcast, period: number, state: DaqState, substate: DaqSubstate) => {
    steps.push({ kind: 'broadcast', msgType, atMs: t, period, state, substate });
    t += ms(daq.broadcast_delay);
  };

  broadcast('run_imminent', 0, 'beam', 'not_ready');
  t += ms(daq.beam_not_ready_delay) + ms(daq.beam_ready_delay);
  for (let period = 1; period <= sim.physics_period_count; period++) {
    broadcast(period === 1 ? 'start_run' : 'resume_run', period, 'run', 'physics');
    for (let i = 0; i < perPeriod; i++) {
      sequence += 1;
      const startMs = t;
      t += interval;
      steps.push({
        kind: 'stf',
        sequence,
        atMs: t,
        startMs,
        generateAtMs: t - generation,
        period,
        state: 'run',
        substate: 'physics',
      });
    }
    if (period < sim.physics_period_count) {
      broadcast('pause_run', period, 'run', 'standby');
      t += ms(sim.standby_duration);
    }
  }
  broadcast('end_run', sim.physics_period_count, 'beam', 'not_ready');
  t += ms(daq.beam_not_ready_end_delay);
  steps.push({
    kind: 'finish',
    atMs: t,
    period: sim.physics_period_count,
    state: 'no_beam',
    substate: 'not_ready',
  });
  return { steps, stfsPerPeriod: perPeriod, stfCount: sequence, durationMs: t };
}
