// The page at #/: executions and runs.

import { api } from './api.js';
import { h } from './dom.js';
import { fixed, status, time } from './format.js';
import { table } from './table.js';

const runLink = (r) => h('a', { href: `#/runs/${encodeURIComponent(r.run_id)}` }, r.run_id);

/** The executions and runs, newest first. */
export async function listView() {
  const [executions, runs] = await Promise.all([
    api('/api/executions?limit=1000'),
    api('/api/runs?limit=1000'),
  ]);
  return [
    h('h1', {}, 'Executions'),
    table(
      executions.items,
      [
        { key: 'execution_id', label: 'execution' },
        { key: 'run_id', label: 'run', cell: runLink },
        { key: 'status', cell: (r) => status(r.status) },
        { key: 'phase' },
        { key: 'stf_files', label: 'STF files' },
        { key: 'start_time', label: 'started', cell: (r) => time(r.start_time) },
        { key: 'duration_seconds', label: 'duration (s)', cell: (r) => fixed(r.duration_seconds) },
      ],
      'No executions yet: testbed run prompt_processing',
    ),
    h('h2', {}, 'Runs'),
    table(
      runs.items,
      [
        { key: 'run_id', label: 'run', cell: runLink },
        { key: 'status', cell: (r) => status(r.status) },
        { key: 'phase' },
        { key: 'task_id', label: 'task' },
        { key: 'dataset' },
        { key: 'dataset_state', label: 'dataset state' },
        { key: 'stf_files', label: 'STF files' },
        { key: 'total_stf_files', label: 'announced' },
        { key: 'start_time', label: 'started', cell: (r) => time(r.start_time) },
      ],
      'No runs yet',
    ),
  ];
}
