import { describe, expect, it } from 'vitest';
import { loadWorkflow } from '#config/workflow.ts';
import { planRun, whyNoRun } from '#domain/daq-plan.ts';

const workflow = (overrides: Record<string, unknown>) =>
  loadWorkflow('prompt_processing', { env: {}, overrides });

const timing = {
  'daq_state_machine.no_beam_not_ready_delay': 5,
  'daq_state_machine.beam_not_ready_delay': 4,
  'daq_state_machine.beam_ready_delay': 2,
  'daq_state_machine.beam_not_ready_end_delay': 3,
  'daq_state_machine.broadcast_delay': 1,
  'simulation.stf_interval': 2,
  'simulation.stf_generation_time': 0.5,
  'simulation.standby_duration': 6,
};

describe('DAQ run plan', () => {
  it('walks the state machine with a pause and a resume between two physics periods', () => {
    // Prepare
    const config = workflow({ ...timing, 'simulation.stf_count': 2, 'simulation.physics_period_count': 2 });
    // Act
    const plan = planRun(config);
    // Assess
    expect(plan.steps.map((s) => (s.kind === 'broadcast' ? s.msgType : s.kind))).toEqual([
      'run_imminent',
      'start_run',
      'stf',
      'stf',
      'pause_run',
      'resume_run',
      'stf',
      'stf',
      'end_run',
      'finish',
    ]);
    expect(plan.steps.map((s) => [s.state, s.substate])).toEqual([
      ['beam', 'not_ready'],
      ['run', 'physics'],
      ['run', 'physics'],
      ['run', 'physics'],
      ['run', 'standby'],
      ['run', 'physics'],
      ['run', 'physics'],
      ['run', 'physics'],
      ['beam', 'not_ready'],
      ['no_beam', 'not_ready'],
    ]);
  });

  it('places every step at its simulated time, each state broadcast followed by broadcast_delay', () => {
    // Prepare
    const config = workflow({ ...timing, 'simulation.stf_count': 2, 'simulation.physics_period_count': 2 });
    // Act
    const plan = planRun(config);
    // Assess: imminent after 5 s; start after 1 + 4 + 2; STFs end their 2 s windows; pause, 1 + 6 standby.
    expect(plan.steps.map((s) => s.atMs / 1000)).toEqual([5, 12, 15, 17, 17, 24, 27, 29, 29, 33]);
    const stfs = plan.steps.filter((s) => s.kind === 'stf');
    expect(stfs.map((s) => [s.sequence, s.startMs / 1000, s.generateAtMs / 1000])).toEqual([
      [1, 13, 14.5],
      [2, 15, 16.5],
      [3, 25, 26.5],
      [4, 27, 28.5],
    ]);
    expect(plan.durationMs).toBe(33_000);
  });

  it('counts stf_count STFs per physics period in count mode', () => {
    // Prepare
    const config = workflow({ 'simulation.stf_count': 3, 'simulation.physics_period_count': 3 });
    // Act
    const plan = planRun(config);
    // Assess
    expect(plan.stfsPerPeriod).toBe(3);
    expect(plan.stfCount).toBe(9);
  });

  it('fits whole stf_intervals into each period in duration mode, ignoring stf_count', () => {
    // Prepare
    const config = workflow({
      'simulation.stf_mode': 'duration',
      'simulation.stf_count': 99,
      'simulation.physics_period_duration': 10,
      'simulation.stf_interval': 3,
      'simulation.physics_period_count': 2,
    });
    // Act
    const plan = planRun(config);
    // Assess
    expect(plan.stfsPerPeriod).toBe(3);
    expect(plan.stfCount).toBe(6);
  });

  it('refuses an endless run (physics_period_count 0)', () => {
    // Prepare
    const config = workflow({ 'simulation.physics_period_count': 0 });
    // Act
    const plan = () => planRun(config);
    // Assess
    expect(plan).toThrow(/endless run/);
  });

  it.each([
    [{ 'simulation.stf_count': 0 }, /^simulation\.stf_count = 0: the run would have no STF/],
    [
      {
        'simulation.stf_mode': 'duration',
        'simulation.physics_period_duration': 1,
        'simulation.stf_interval': 2,
      },
      /^simulation\.physics_period_duration 1 s is shorter than one stf_interval \(2 s\)/,
    ],
  ])('refuses a run without STFs (%o), in the words of its keys', (overrides, message) => {
    // Prepare
    const config = workflow(overrides);
    // Act
    const why = whyNoRun(config);
    // Assess
    expect(why).toMatch(message);
    expect(() => planRun(config)).toThrow(message);
  });
});
