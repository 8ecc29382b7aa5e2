// The monitor dashboard: plain DOM and inline SVG over the read-only JSON API, no build step.
// Routes: #/ (executions and runs), #/runs/<run_id> (a run: counts, plots, STF files, pilots, slices, messages).

import { h } from './dom.js';
import { when } from './format.js';
import { listView } from './list-view.js';
import { runView } from './run-view.js';

const POLL_MS = 1000;
const view = document.getElementById('view');
const updated = document.getElementById('updated');
let timer;
let generation = 0;

async function render() {
  const mine = ++generation;
  clearTimeout(timer);
  const route = location.hash.replace(/^#/, '') || '/';
  const match = /^\/runs\/([^/]+)$/.exec(route);
  let live = true;
  try {
    let content;
    if (match) ({ content, live } = await runView(decodeURIComponent(match[1])));
    else content = await listView();
    if (mine !== generation) return;
    view.replaceChildren(...content);
    updated.replaceChildren(
      'updated ',
      h('time', { datetime: new Date().toISOString() }, when(Date.now())),
      live ? '' : ' (run over: not polling)',
    );
  } catch (error) {
    if (mine !== generation) return;
    view.replaceChildren(h('p', { class: 'error' }, String(error.message ?? error)));
  }
  // While the run goes (and on the lists), poll every second; a finished run's page stays as it is.
  if (live && mine === generation) timer = setTimeout(render, POLL_MS);
}

window.addEventListener('hashchange', render);
render();
