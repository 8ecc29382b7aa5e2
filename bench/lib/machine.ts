import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly activemq: string;
  readonly java: string;
  readonly loadAverage: string;
}

const quiet = (command: string, args: string[]): string => {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    return ((error as { stderr?: string }).stderr ?? '').trim();
  }
};

export function machine(): Machine {
  const java = quiet('java', ['-version']) || quiet('sh', ['-c', 'java -version 2>&1']);
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    activemq: quiet('dpkg-query', ['-W', 'activemq']).split(/\s+/)[1] ?? 'unknown',
    java: java.split('\n')[0] ?? 'unknown',
    loadAverage: quiet('cat', ['/proc/loadavg']).split(' ').slice(0, 3).join(' '),
  };
}
