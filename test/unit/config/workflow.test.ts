import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  loadWorkflow,
  parseOverride,
  sliceQueueFor,
  unusedKeysLine,
  workflowsDir,
} from '#config/workflow.ts';
import { testDir } from '../../support/temp.ts';

const tempDirs: string[] = [];

/** Writes `files` (name -> TOML text, subfolders allowed) into a fresh temp folder and returns it. */
function writeFiles(files: Record<string, string>): string {
  const dir = testDir('swf-workflow-');
  tempDirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

afterEach(() => {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

// An empty env keeps a developer's own SWF_TESTBED_CONFIG out of the tests.
const noEnv = { env: {} };

describe('loadWorkflow', () => {
  describe('shipped workflows', () => {
    it('loads prompt_processing with its own simulation section and the included DAQ state machine', () => {
      // Prepare
      const name = 'prompt_processing';

      // Act
      const config = loadWorkflow(name, noEnv);

      // Assess
      expect(config.name).toBe('prompt_processing');
      expect(config.file).toBe(fileURLToPath(new URL('prompt_processing_default.toml', workflowsDir)));
      expect(config.testbed.namespace).toBe('user-namespace');
      expect(config.workflow).toMatchObject({ version: '1.0', includes: ['daq_state_machine.toml'] });
      expect(config.daqStateMachine).toEqual({
        no_beam_not_ready_delay: 5,
        beam_not_ready_delay: 5,
        beam_ready_delay: 2,
        beam_not_ready_end_delay: 5,
        broadcast_delay: 1,
      });
      expect(config.simulation).toMatchObject({ stf_count: 10, physics_period_count: 1, realtime: true });
      expect(config.promptProcessing).toEqual({
        target_worker_count: 2,
        num_cores_per_worker: 1,
        num_ram_per_core: 2000,
        slices_per_stf: 5,
        tfs_per_stf: 50,
        stf_size_bytes: 262144,
        slice_processing_time: 0,
        heartbeat_interval: 5,
        transformer_idle_timeout: 60,
        file_type: 'stf',
        payload_command: '',
        payload_timeout: 600,
      });
      expect(config.fastProcessing).toEqual({ enabled: false, slices_per_sample: 15 });
      expectTypeOf(config.simulation.stf_count).toEqualTypeOf<number>();
      expectTypeOf(config.simulation.stf_mode).toEqualTypeOf<'count' | 'duration'>();
      expect(config.sources.map((source) => path.basename(source))).toEqual([
        'prompt_processing_default.toml',
        'daq_state_machine.toml',
      ]);
    });

    it('fills simulation keys the workflow leaves out with the upstream DAQ values', () => {
      // Prepare
      const name = 'prompt_processing';

      // Act
      const { simulation } = loadWorkflow(name, noEnv);

      // Assess
      expect(simulation).toMatchObject({
        stf_interval: 2.0,
        stf_generation_time: 0.1,
        physics_period_duration: 10,
        standby_duration: 2,
        stf_mode: 'count',
      });
    });

    it('loads daq_state_machine.toml by file name with the upstream simulation values', () => {
      // Prepare
      const overrides = { 'testbed.namespace': 'alice' };

      // Act
      const config = loadWorkflow('daq_state_machine.toml', { ...noEnv, overrides });

      // Assess
      expect(config.name).toBe('daq_state_machine');
      expect(config.simulation).toEqual({
        stf_interval: 2.0,
        stf_generation_time: 0.1,
        physics_period_duration: 10,
        physics_period_count: 2,
        standby_duration: 2,
        stf_mode: 'count',
        realtime: true,
        stf_count: 10,
      });
    });

    it('returns a deeply frozen configuration', () => {
      // Prepare
      const name = 'prompt_processing';

      // Act
      const config = loadWorkflow(name, noEnv);

      // Assess
      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.simulation)).toBe(true);
      expect(Object.isFrozen(config.workflow.includes)).toBe(true);
    });
  });

  describe('includes', () => {
    it('adds only the whole sections the including file lacks', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': `
[testbed]
namespace = "ns"
[workflow]
includes = ["base.toml"]
[simulation]
stf_count = 3
`,
        'base.toml': `
[simulation]
stf_count = 99
stf_interval = 7.0
[prompt_processing]
slices_per_stf = 8
`,
      });

      // Act
      const config = loadWorkflow(path.join(dir, 'main.toml'), noEnv);

      // Assess
      expect(config.simulation.stf_count).toBe(3);
      expect(config.simulation.stf_interval).toBe(2.0);
      expect(config.promptProcessing.slices_per_stf).toBe(8);
    });

    it('reads upstream’s STF and physics-period settings from [daq_state_machine] unless [simulation] sets them', () => {
      // Prepare: upstream's daq_state_machine.toml keeps them there
      const dir = writeFiles({
        'main.toml': `
[testbed]
namespace = "ns"
[workflow]
includes = ["daq_state_machine.toml"]
[simulation]
stf_count = 3
physics_period_count = 1
`,
        'daq_state_machine.toml': `
[daq_state_machine]
beam_ready_delay = 1
stf_interval = 0.5
stf_generation_time = 0.2
physics_period_duration = 30
physics_period_count = 4
standby_duration = 3
`,
      });

      // Act
      const config = loadWorkflow(path.join(dir, 'main.toml'), noEnv);

      // Assess
      expect(config.daqStateMachine.beam_ready_delay).toBe(1);
      expect(config.simulation).toMatchObject({
        stf_count: 3,
        physics_period_count: 1,
        stf_interval: 0.5,
        stf_generation_time: 0.2,
        physics_period_duration: 30,
        standby_duration: 3,
      });
    });

    it('names [daq_state_machine] and its file when a setting read from there is wrong', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': '[testbed]\nnamespace = "ns"\n[workflow]\nincludes = ["daq.toml"]\n',
        'daq.toml': '[daq_state_machine]\nstf_interval = "fast"\n',
      });

      // Act
      const load = () => loadWorkflow(path.join(dir, 'main.toml'), noEnv);

      // Assess
      expect(load).toThrow(/daq\.toml: daq_state_machine\.stf_interval must be .* \(got "fast"\)$/);
    });

    it('follows nested includes relative to each including file', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': '[testbed]\nnamespace = "ns"\n[workflow]\nincludes = ["sub/middle.toml"]\n',
        'sub/middle.toml': '[workflow]\nincludes = ["deep/leaf.toml"]\n[simulation]\nstf_count = 4\n',
        'sub/deep/leaf.toml': '[fast_processing]\nenabled = true\n[simulation]\nstf_count = 5\n',
      });

      // Act
      const config = loadWorkflow(path.join(dir, 'main.toml'), noEnv);

      // Assess
      expect(config.simulation.stf_count).toBe(4);
      expect(config.fastProcessing.enabled).toBe(true);
      expect(config.sources).toEqual([
        path.join(dir, 'main.toml'),
        path.join(dir, 'sub/middle.toml'),
        path.join(dir, 'sub/deep/leaf.toml'),
      ]);
    });

    it('refuses an include cycle and names the files in it', () => {
      // Prepare
      const dir = writeFiles({
        'a.toml': '[testbed]\nnamespace = "ns"\n[workflow]\nincludes = ["b.toml"]\n',
        'b.toml': '[workflow]\nincludes = ["a.toml"]\n',
      });
      const a = path.join(dir, 'a.toml');
      const b = path.join(dir, 'b.toml');

      // Act
      const load = () => loadWorkflow(a, noEnv);

      // Assess
      expect(load).toThrow(`include cycle: ${a} -> ${b} -> ${a}`);
    });

    it('names the including file and the path of a missing include', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': '[testbed]\nnamespace = "ns"\n[workflow]\nincludes = ["gone.toml"]\n',
      });

      // Act
      const load = () => loadWorkflow(path.join(dir, 'main.toml'), noEnv);

      // Assess
      expect(load).toThrow(
        `${path.join(dir, 'main.toml')}: workflow.includes names a missing file: ${path.join(dir, 'gone.toml')}`,
      );
    });
  });

  describe('overrides', () => {
    it('lets the SWF_TESTBED_CONFIG file override key by key', () => {
      // Prepare
      const dir = writeFiles({
        'testbed.toml':
          '[testbed]\nnamespace = "alice"\n[simulation]\nstf_count = 42\n[extra]\nnote = "kept"\n',
      });
      const env = { SWF_TESTBED_CONFIG: path.join(dir, 'testbed.toml') };

      // Act
      const config = loadWorkflow('prompt_processing', { env });

      // Assess
      expect(config.testbed.namespace).toBe('alice');
      expect(config.simulation).toMatchObject({ stf_count: 42, physics_period_count: 1, realtime: true });
      expect(config.extraSections).toEqual({ extra: { note: 'kept' } });
      expect(config.sources).toContain(env.SWF_TESTBED_CONFIG);
    });

    it('applies command-line overrides over the testbed file', () => {
      // Prepare
      const dir = writeFiles({
        'testbed.toml': '[testbed]\nnamespace = "alice"\n[simulation]\nstf_count = 42\n',
      });
      const env = { SWF_TESTBED_CONFIG: path.join(dir, 'testbed.toml') };
      const overrides = {
        'simulation.stf_count': 200,
        'testbed.namespace': 'x',
        'fast_processing.enabled': true,
      };

      // Act
      const config = loadWorkflow('prompt_processing', { env, overrides });

      // Assess
      expect(config.simulation.stf_count).toBe(200);
      expect(config.testbed.namespace).toBe('x');
      expect(config.fastProcessing.enabled).toBe(true);
      expect(config.sources.at(-1)).toBe('command line');
    });

    it('names the path when SWF_TESTBED_CONFIG points at no file', () => {
      // Prepare
      const missing = path.join(os.tmpdir(), 'swf-no-such-testbed.toml');

      // Act
      const load = () => loadWorkflow('prompt_processing', { env: { SWF_TESTBED_CONFIG: missing } });

      // Assess
      expect(load).toThrow(`SWF_TESTBED_CONFIG names a missing file: ${missing}`);
    });

    it('refuses an override that does not name section.key', () => {
      // Prepare
      const overrides = { stf_count: 5 };

      // Act
      const load = () => loadWorkflow('prompt_processing', { ...noEnv, overrides });

      // Assess
      expect(load).toThrow('command line: override "stf_count" must be named section.key');
    });

    it('parses command-line assignments as TOML values, else as text', () => {
      // Prepare
      const assignments = [
        'simulation.stf_count=200',
        'simulation.realtime=false',
        'testbed.namespace=alice',
      ];

      // Act
      const parsed = assignments.map(parseOverride);

      // Assess
      expect(parsed).toEqual([
        ['simulation.stf_count', 200],
        ['simulation.realtime', false],
        ['testbed.namespace', 'alice'],
      ]);
    });
  });

  describe('validation', () => {
    it('keeps unknown keys and unknown sections', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': `
[testbed]
namespace = "ns"
[simulation]
stf_source_pattern = "*.root"
[agents.stf-data]
enabled = true
`,
      });

      // Act
      const config = loadWorkflow(path.join(dir, 'main.toml'), noEnv);

      // Assess
      expect(config.simulation.stf_source_pattern).toBe('*.root');
      expect(config.extraSections).toEqual({ agents: { 'stf-data': { enabled: true } } });
      expect(config.unusedKeys).toEqual(['simulation.stf_source_pattern', 'agents']);
    });

    it('refuses a wrong type naming the file and the key', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': '[testbed]\nnamespace = "ns"\n[simulation]\nstf_count = "ten"\n',
      });
      const file = path.join(dir, 'main.toml');

      // Act
      const load = () => loadWorkflow(file, noEnv);

      // Assess
      expect(load).toThrow(`${file}: simulation.stf_count must be a non-negative integer (got "ten")`);
    });

    it('names the included file when the wrong value came from it', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': '[testbed]\nnamespace = "ns"\n[workflow]\nincludes = ["base.toml"]\n',
        'base.toml': '[simulation]\nstf_mode = "forever"\n',
      });

      // Act
      const load = () => loadWorkflow(path.join(dir, 'main.toml'), noEnv);

      // Assess
      expect(load).toThrow(
        `${path.join(dir, 'base.toml')}: simulation.stf_mode must be "count" or "duration" (got "forever")`,
      );
    });

    it('names the command line when the wrong value came from an override', () => {
      // Prepare
      const overrides = { 'prompt_processing.slices_per_stf': 0 };

      // Act
      const load = () => loadWorkflow('prompt_processing', { ...noEnv, overrides });

      // Assess
      expect(load).toThrow(
        'command line: prompt_processing.slices_per_stf must be a positive integer (got 0)',
      );
    });

    it('takes a payload command, a file type and a payload timeout from the command line', () => {
      // Prepare
      const overrides = Object.fromEntries(
        [
          'prompt_processing.payload_command="/opt/reco/run.sh --tfs \'{start}-{end}\'"',
          'prompt_processing.file_type=fake',
          'prompt_processing.payload_timeout=30.5',
        ].map(parseOverride),
      );

      // Act
      const { promptProcessing } = loadWorkflow('prompt_processing', { ...noEnv, overrides });

      // Assess
      expect(promptProcessing).toMatchObject({
        payload_command: "/opt/reco/run.sh --tfs '{start}-{end}'",
        file_type: 'fake',
        payload_timeout: 30.5,
      });
    });

    it('refuses a payload command with an unbalanced quote, a zero payload timeout and an empty file type', () => {
      // Prepare
      const cases = {
        'prompt_processing.payload_command': "sh -c 'echo",
        'prompt_processing.payload_timeout': 0,
        'prompt_processing.file_type': '',
      };

      // Act
      const refusals = Object.entries(cases).map(([key, value]) => {
        try {
          loadWorkflow('prompt_processing', { ...noEnv, overrides: { [key]: value } });
          return 'loaded';
        } catch (error) {
          return (error as Error).message;
        }
      });

      // Assess
      expect(refusals).toEqual([
        'command line: prompt_processing.payload_command must be a command line: a string whose quotes and backslashes are balanced (got "sh -c \'echo")',
        'command line: prompt_processing.payload_timeout must be a positive number (got 0)',
        'command line: prompt_processing.file_type must be a non-empty string (got "")',
      ]);
    });

    it('names the SWF_TESTBED_CONFIG file when the wrong value came from it', () => {
      // Prepare
      const dir = writeFiles({
        'testbed.toml': '[testbed]\nnamespace = "alice"\n[simulation]\nrealtime = "yes"\n',
      });
      const env = { SWF_TESTBED_CONFIG: path.join(dir, 'testbed.toml') };

      // Act
      const load = () => loadWorkflow('prompt_processing', { env });

      // Assess
      expect(load).toThrow(`${env.SWF_TESTBED_CONFIG}: simulation.realtime must be a boolean (got "yes")`);
    });

    it('refuses a missing namespace naming the file and the key', () => {
      // Prepare
      const dir = writeFiles({ 'main.toml': '[workflow]\nname = "bare"\n' });
      const file = path.join(dir, 'main.toml');

      // Act
      const load = () => loadWorkflow(file, noEnv);

      // Assess
      expect(load).toThrow(`${file}: testbed.namespace is required and must be a non-empty string`);
    });

    it('refuses an empty namespace', () => {
      // Prepare
      const dir = writeFiles({ 'main.toml': '[testbed]\nnamespace = ""\n' });
      const file = path.join(dir, 'main.toml');

      // Act
      const load = () => loadWorkflow(file, noEnv);

      // Assess
      expect(load).toThrow(`${file}: testbed.namespace must be a non-empty string (got "")`);
    });

    it('names the file and line of a TOML syntax error', () => {
      // Prepare
      const dir = writeFiles({ 'main.toml': '[testbed]\nnamespace = "ns"\nstf_count = \n' });
      const file = path.join(dir, 'main.toml');

      // Act
      const load = () => loadWorkflow(file, noEnv);

      // Assess
      expect(load).toThrow(new RegExp(`^${file}:3:\\d+: invalid TOML`));
    });

    it('names the path of a missing workflow file', () => {
      // Prepare
      const missing = path.join(os.tmpdir(), 'swf-no-such-workflow.toml');

      // Act
      const load = () => loadWorkflow(missing, noEnv);

      // Assess
      expect(load).toThrow(`workflow "${missing}" not found: no file at ${missing}`);
    });

    it('names the places it looked for an unknown workflow name', () => {
      // Prepare
      const name = 'no_such_workflow';

      // Act
      const load = () => loadWorkflow(name, noEnv);

      // Assess
      expect(load).toThrow(/no_such_workflow_default\.toml or .*no_such_workflow\.toml/);
    });
  });

  describe('command-line typos', () => {
    /** The message `loadWorkflow` refuses these `--set` assignments with, or `loaded`. */
    const refusal = (...assignments: string[]): string => {
      try {
        loadWorkflow('prompt_processing', {
          ...noEnv,
          overrides: Object.fromEntries(assignments.map(parseOverride)),
        });
        return 'loaded';
      } catch (error) {
        return (error as Error).message;
      }
    };

    it('refuses an unknown key in a known section and names the nearest key', () => {
      // Prepare
      const assignment = 'prompt_processing.slices_per_stf_typo=10';

      // Act
      const message = refusal(assignment);

      // Assess
      expect(message).toBe(
        'command line: prompt_processing.slices_per_stf_typo is not a key of [prompt_processing]: did you mean prompt_processing.slices_per_stf?',
      );
    });

    it('refuses an unknown section and lists the sections when none is near', () => {
      // Prepare
      const assignment = 'bogus.key=1';

      // Act
      const message = refusal(assignment);

      // Assess
      expect(message).toBe(
        'command line: bogus.key names no section the testbed reads (its sections: testbed, workflow, daq_state_machine, simulation, prompt_processing, fast_processing)',
      );
    });

    it('refuses a misspelled section and names the key in the nearest one', () => {
      // Prepare
      const assignment = 'simulaton.stf_count=3';

      // Act
      const message = refusal(assignment);

      // Assess
      expect(message).toBe(
        'command line: simulaton.stf_count names no section the testbed reads: did you mean simulation.stf_count?',
      );
    });

    it('names the section that holds a key set under another one', () => {
      // Prepare
      const assignment = 'simulation.slices_per_stf=10';

      // Act
      const message = refusal(assignment);

      // Assess
      expect(message).toBe(
        'command line: simulation.slices_per_stf is not a key of [simulation]: did you mean prompt_processing.slices_per_stf?',
      );
    });

    it('lists the keys of the section when no key is near', () => {
      // Prepare
      const assignment = 'fast_processing.colour=blue';

      // Act
      const message = refusal(assignment);

      // Assess
      expect(message).toBe(
        'command line: fast_processing.colour is not a key of [fast_processing] (its keys: enabled, slices_per_sample)',
      );
    });

    it('names a key with two letters swapped', () => {
      // Prepare
      const assignment = 'simulation.stf_cuont=3';

      // Act
      const message = refusal(assignment);

      // Assess
      expect(message).toBe(
        'command line: simulation.stf_cuont is not a key of [simulation]: did you mean simulation.stf_count?',
      );
    });

    it('takes upstream’s STF settings under [daq_state_machine] from the command line', () => {
      // Prepare
      const overrides = Object.fromEntries(['daq_state_machine.stf_interval=0.5'].map(parseOverride));

      // Act
      const { simulation } = loadWorkflow('prompt_processing', { ...noEnv, overrides });

      // Assess
      expect(simulation.stf_interval).toBe(0.5);
    });
  });

  describe('misspelled sections in files', () => {
    it.each([
      ['simulaton', '[simulation]'],
      ['Simulation', '[simulation]'],
      ['prompt_procesing', '[prompt_processing]'],
      ['testbd', '[testbed]'],
    ])('refuses [%s] naming the file and %s', (typed, suggested) => {
      // Prepare
      const dir = writeFiles({ 'main.toml': `[testbed]\nnamespace = "ns"\n[${typed}]\nstf_count = 3\n` });
      const file = path.join(dir, 'main.toml');

      // Act
      const load = () => loadWorkflow(file, noEnv);

      // Assess
      expect(load).toThrow(
        `${file}: [${typed}] is not a section the testbed reads: did you mean ${suggested}?`,
      );
    });

    it('refuses a misspelled section in an included file, naming that file', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': '[testbed]\nnamespace = "ns"\n[workflow]\nincludes = ["base.toml"]\n',
        'base.toml': '[fast_procesing]\nenabled = true\n',
      });

      // Act
      const load = () => loadWorkflow(path.join(dir, 'main.toml'), noEnv);

      // Assess
      expect(load).toThrow(
        `${path.join(dir, 'base.toml')}: [fast_procesing] is not a section the testbed reads: did you mean [fast_processing]?`,
      );
    });

    it('refuses a misspelled section in the SWF_TESTBED_CONFIG file', () => {
      // Prepare
      const dir = writeFiles({
        'testbed.toml': '[testbed]\nnamespace = "alice"\n[simulatio]\nstf_count = 3\n',
      });
      const env = { SWF_TESTBED_CONFIG: path.join(dir, 'testbed.toml') };

      // Act
      const load = () => loadWorkflow('prompt_processing', { env });

      // Assess
      expect(load).toThrow(
        `${env.SWF_TESTBED_CONFIG}: [simulatio] is not a section the testbed reads: did you mean [simulation]?`,
      );
    });
  });

  describe('unused keys', () => {
    it('keeps what the files set that the testbed does not read and names it in one line, file by file', () => {
      // Prepare
      const dir = writeFiles({
        'main.toml': `
[testbed]
namespace = "ns"
[simulation]
stf_count = 3
colour = "red"
[agents.foo]
enabled = true
[stf_processing]
`,
        'testbed.toml':
          '[testbed]\nnamespace = "alice"\n[agents.bar]\nscript = "x.py"\n[workflow]\nconfig = "x"\n',
      });
      const file = path.join(dir, 'main.toml');
      const env = { SWF_TESTBED_CONFIG: path.join(dir, 'testbed.toml') };

      // Act
      const config = loadWorkflow(file, { env });

      // Assess
      expect(config.simulation).toMatchObject({ stf_count: 3, colour: 'red' });
      expect(config.extraSections).toMatchObject({
        agents: { foo: { enabled: true }, bar: { script: 'x.py' } },
      });
      expect(config.unusedKeys).toEqual(['simulation.colour', 'agents', 'stf_processing', 'workflow.config']);
      expect(unusedKeysLine(config)).toBe(
        `${file}: not used by the testbed (kept): simulation.colour, agents, stf_processing; ` +
          `${env.SWF_TESTBED_CONFIG}: not used by the testbed (kept): agents, workflow.config`,
      );
    });

    it('gives no line when the testbed reads every key', () => {
      // Prepare
      const name = 'prompt_processing';

      // Act
      const config = loadWorkflow(name, noEnv);

      // Assess
      expect(config.unusedKeys).toEqual([]);
      expect(unusedKeysLine(config)).toBeUndefined();
    });
  });

  describe('files as shipped and as upstream writes them', () => {
    const shipped = fs.readdirSync(workflowsDir).filter((name) => name.endsWith('.toml'));
    const upstreamDir = fileURLToPath(new URL('../../fixtures/upstream-workflows/', import.meta.url));
    const upstream = fs.readdirSync(upstreamDir).filter((name) => name.endsWith('.toml'));

    it.each(shipped)('loads workflows/%s with every key read', (name) => {
      // Prepare
      const overrides = { 'testbed.namespace': 'ns' };

      // Act
      const config = loadWorkflow(name, { ...noEnv, overrides });

      // Assess
      expect(path.basename(config.file)).toBe(name);
      expect(config.unusedKeys).toEqual([]);
    });

    it.each(upstream)('loads upstream’s %s with its testbed.toml, keeping its agent settings', (name) => {
      // Prepare: upstream's runs take [testbed] from testbed.toml, which also carries [agents.*]
      const env = { SWF_TESTBED_CONFIG: path.join(upstreamDir, 'testbed.toml') };

      // Act
      const config = loadWorkflow(path.join(upstreamDir, name), { env });

      // Assess
      expect(config.testbed.namespace).not.toBe('');
      expect(config.unusedKeys).toContain('agents');
      expect(unusedKeysLine(config)).toMatch(/testbed\.toml: not used by the testbed \(kept\): .*agents/);
    });

    it('reads the settings upstream’s prompt_processing_default.toml sets and lists the others', () => {
      // Prepare
      const file = path.join(upstreamDir, 'prompt_processing_default.toml');

      // Act
      const config = loadWorkflow(file, noEnv);

      // Assess
      expect(config.testbed.namespace).toBe('test-user');
      expect(config.simulation).toMatchObject({ stf_count: 10, physics_period_count: 1, stf_interval: 2.0 });
      expect(config.unusedKeys).toEqual(['agents', 'prompt_processing.container']);
    });
  });
});

describe('sliceQueueFor', () => {
  const env = {};
  it.each([
    [{}, 'run'],
    [{ 'prompt_processing.target_worker_count': 0 }, 'shared'],
    [{ 'prompt_processing.slice_queue': 'shared' }, 'shared'],
    [{ 'prompt_processing.target_worker_count': 0, 'prompt_processing.slice_queue': 'run' }, 'run'],
  ])("queues a run's slices as %j says: %s", (overrides, expected) => {
    // Act
    const queue = sliceQueueFor(loadWorkflow('prompt_processing', { env, overrides }));
    // Assess
    expect(queue).toBe(expected);
  });

  it('refuses a slice_queue it does not know, naming the key', () => {
    // Act
    const load = () =>
      loadWorkflow('prompt_processing', { env, overrides: { 'prompt_processing.slice_queue': 'own' } });
    // Assess
    expect(load).toThrow(/slice_queue/);
  });
});
