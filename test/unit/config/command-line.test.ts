import { describe, expect, it } from 'vitest';
import { commandWords } from '#config/command-line.ts';
import { type CommandSlice, commandArguments } from '#domain/payload-command.ts';

const slice: CommandSlice = {
  stf: '/stf/swf.100010.000001.stf',
  url: 's3://bucket/swf.100010.000001.stf',
  runId: '100010',
  sliceId: 2,
  start: 20,
  end: 29,
  filename: 'swf.100010.000001.stf',
  content: {},
};

describe('A payload command line', () => {
  it('splits into words at whitespace, keeping quoted text and escaped characters whole', () => {
    // Prepare
    const line = ` /opt/reco/run  --name 'two words' "say \\"hi\\" \\$HOME \\n" a\\ b ''  mixed'1'"2"3 `;

    // Act
    const words = commandWords(line);

    // Assess
    expect(words).toEqual([
      '/opt/reco/run',
      '--name',
      'two words',
      'say "hi" $HOME \\n',
      'a b',
      '',
      'mixed123',
    ]);
  });

  it('refuses unterminated quotes and a trailing backslash, naming the line', () => {
    // Prepare
    const lines = [`sh -c 'echo`, 'say "hi', 'run \\'];

    // Act
    const refusals = lines.map((line) => {
      try {
        return commandWords(line).join(' ');
      } catch (error) {
        return (error as Error).message;
      }
    });

    // Assess
    expect(refusals).toEqual([
      `unterminated single quote in command "sh -c 'echo"`,
      'unterminated double quote in command "say \\"hi"',
      'trailing backslash in command "run \\\\"',
    ]);
  });

  it('gets the STF and the TF range appended when it uses no placeholder', () => {
    // Prepare
    const words = ['/opt/reco/run', '--fast'];

    // Act
    const args = commandArguments(words, slice, '/out/100010');

    // Assess
    expect(args).toEqual(['--fast', '/stf/swf.100010.000001.stf', '20', '29']);
  });

  it('gets the slice in its placeholders instead, each word one argument whatever the values hold', () => {
    // Prepare
    const words = [
      'run',
      '--in={stf}',
      '--tfs',
      '{start}:{end}',
      '{url}',
      '{slice_id}',
      '{run_id}',
      '{filename}',
      '{output_dir}/{slice_id}.out',
      '{other}',
    ];

    // Act
    const args = commandArguments(words, { ...slice, filename: 'a b; rm -rf *' }, '/out/100010');

    // Assess
    expect(args).toEqual([
      '--in=/stf/swf.100010.000001.stf',
      '--tfs',
      '20:29',
      's3://bucket/swf.100010.000001.stf',
      '2',
      '100010',
      'a b; rm -rf *',
      '/out/100010/2.out',
      '{other}',
    ]);
  });
});
