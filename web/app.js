// Cohort's dashboard: rollouts from the admin API, live over its events stream.
// No framework: state lives in a few maps and the page is re-rendered from it.
import { time_chart, colours } from './charts.js';

const history_seconds = 600;
const token_key = 'cohort.admin-token';
const max_events = 300;

const state = {
  rollouts: new Map(), // name -> the API's rollout JSON
  samples: new Map(), // name -> [{t, target, realised, arms}] (per-second stats, oldest first)
  live_events: new Map(), // name -> [{time, level, message}] seen on the stream since the last fetch
  selected: null,
  charts: null, // {name, share, success, latency} for the selected rollout
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// Admin API

function auth_headers() {
  const token = sessionStorage.getItem(token_key);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function get_json(path) {
  const resp = await fetch(path, { headers: auth_headers(), cache: 'no-store' });
  if (!resp.ok) {
    throw new Error(`${path}: HTTP ${resp.status}`);
  }
  return resp.json();
}

async function act(name, action) {
  const resp = await fetch(`/api/v1/rollouts/${encodeURIComponent(name)}/${action}`, {
    method: 'POST',
    headers: auth_headers(),
  });
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) {
    let why = body && body.error ? body.error : `HTTP ${resp.status}`;
    if (body && Array.isArray(body.details) && body.details.length > 0) {
      why += `: ${body.details.join('; ')}`;
    }
    if (resp.status === 401) {
      why += ' (enter the admin token above)';
    }
    throw new Error(why);
  }
  return body;
}

// ---------------------------------------------------------------------------
// Stats history and the live stream

function add_sample(sample) {
  const t = sample.time / 1000;
  for (const r of sample.rollouts || []) {
    let list = state.samples.get(r.name);
    if (!list) {
      list = [];
      state.samples.set(r.name, list);
    }
    if (list.length > 0 && list[list.length - 1].t >= t) {
      continue; // already have it (history and stream overlap after a reconnect)
    }
    list.push({
      t,
      target: r.target_share ?? null,
      realised: r.realised_share ?? null,
      arms: r.arms || {},
    });
    while (list.length > 0 && list[0].t < t - history_seconds) {
      list.shift();
    }
  }
}

async function load_history() {
  const body = await get_json('/api/v1/stats');
  for (const sample of body.samples || []) {
    add_sample(sample);
  }
}

let refresh_timer = null;
function refresh_soon() {
  if (refresh_timer === null) {
    refresh_timer = setTimeout(() => {
      refresh_timer = null;
      refresh_rollouts();
    }, 150);
  }
}

function connect_stream() {
  const status = $('stream-status');
  const source = new EventSource('/api/v1/events');
  source.addEventListener('open', async () => {
    status.dataset.state = 'live';
    status.textContent = 'live';
    try {
      await load_history(); // fills the gap of a reconnect
      render_charts();
    } catch (e) {
      console.warn(e);
    }
  });
  source.addEventListener('error', () => {
    status.dataset.state = 'down';
    status.textContent = 'reconnecting…';
  });
  source.addEventListener('stats', (e) => {
    add_sample(JSON.parse(e.data));
    render_charts();
  });
  source.addEventListener('transition', (e) => {
    const t = JSON.parse(e.data);
    const r = state.rollouts.get(t.rollout);
    if (r) {
      r.phase = t.phase;
      r.weight = t.weight;
      r.step = t.step + 1;
      render();
    }
    refresh_soon();
  });
  source.addEventListener('log', (e) => {
    const l = JSON.parse(e.data);
    push_live_event(l.rollout, l.level, l.message);
    refresh_soon();
  });
}

function push_live_event(name, level, message) {
  let list = state.live_events.get(name);
  if (!list) {
    list = [];
    state.live_events.set(name, list);
  }
  list.push({ time: new Date().toISOString(), level, message, received: Date.now() });
  if (name === state.selected) {
    render_events(state.rollouts.get(name));
  }
}

async function refresh_rollouts() {
  const asked = Date.now();
  try {
    const body = await get_json('/api/v1/rollouts');
    const seen = new Set();
    for (const r of body.rollouts || []) {
      state.rollouts.set(r.name, r);
      seen.add(r.name);
      // The server's event list now holds every line the stream showed before
      // the request: keep only the later ones.
      const live = state.live_events.get(r.name);
      if (live) {
        state.live_events.set(r.name, live.filter((e) => e.received > asked));
      }
    }
    for (const name of [...state.rollouts.keys()]) {
      if (!seen.has(name)) {
        state.rollouts.delete(name);
      }
    }
    if (state.selected === null || !state.rollouts.has(state.selected)) {
      const wanted = decodeURIComponent(location.hash.replace(/^#/, ''));
      state.selected = state.rollouts.has(wanted) ? wanted : (state.rollouts.keys().next().value ?? null);
    }
    render();
  } catch (e) {
    console.warn(e);
  }
}

// ---------------------------------------------------------------------------
// Rendering

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') {
      node.className = v;
    } else if (k.startsWith('data-')) {
      node.setAttribute(k, v);
    } else {
      node[k] = v;
    }
  }
  for (const c of children) {
    if (c != null) {
      node.append(c);
    }
  }
  return node;
}

const pct = (v, digits = 2) => (v == null ? '–' : `${(v * 100).toFixed(digits)}%`);
const num = (v) => (v == null ? '–' : (+v.toPrecision(3)).toLocaleString('en'));
const ms = (v) => (v == null ? '–' : `${v.toFixed(v < 10 ? 2 : 0)} ms`);

function phase_of(r) {
  if (r.phase) {
    return r.phase;
  }
  return { promoted: 'Promoted', rolled_back: 'RolledBack' }[r.mode] ?? 'Fixed split';
}

function phase_class(phase) {
  return `phase phase-${phase.replace(/\s+/g, '').toLowerCase()}`;
}

function render() {
  render_list();
  const r = state.rollouts.get(state.selected);
  $('detail').hidden = !r;
  if (!r) {
    return;
  }
  render_detail(r);
  render_charts();
}

function render_list() {
  const nav = $('rollout-list');
  nav.replaceChildren();
  if (state.rollouts.size === 0) {
    nav.append(el('p', { class: 'muted' }, 'No rollouts configured.'));
    return;
  }
  for (const r of state.rollouts.values()) {
    const phase = phase_of(r);
    const item = el(
      'button',
      { class: `rollout-item${r.name === state.selected ? ' selected' : ''}`, 'data-rollout': r.name },
      el('span', { class: 'rollout-name' }, r.name),
      el('span', { class: phase_class(phase) }, phase),
      el('span', { class: 'muted' }, r.steps ? `step ${r.step}/${r.steps} · ${r.weight}` : r.weight),
    );
    item.addEventListener('click', () => {
      state.selected = r.name;
      location.hash = encodeURIComponent(r.name);
      render();
    });
    nav.append(item);
  }
}

function render_detail(r) {
  const phase = phase_of(r);
  $('r-name').textContent = r.name;
  $('r-subsets').textContent =
    `service ${r.service} · stable ${r.stable} · canary ${r.canary}` + (r.baseline ? ` · baseline ${r.baseline}` : '');
  const badge = $('r-phase');
  badge.textContent = phase;
  badge.className = phase_class(phase);
  $('r-weight').textContent = `canary weight ${r.weight}`;
  $('r-reason').textContent = r.reason ? `Reason: ${r.reason}` : '';

  // Which actions the controller accepts in this phase (it still has the last word).
  const managed = r.managed === true;
  const allowed = {
    promote: ['Initialized', 'Progressing', 'Paused', 'WaitingPromotion'].includes(phase),
    pause: ['Initialized', 'Progressing', 'WaitingPromotion'].includes(phase),
    resume: phase === 'Paused',
    abort: !['Succeeded', 'Failed', 'RollingBack'].includes(phase),
    retry: phase === 'Failed',
  };
  for (const button of document.querySelectorAll('.actions .act')) {
    const action = button.dataset.action;
    button.disabled = !managed || !allowed[action] || button.dataset.busy === '1';
    button.title = managed ? '' : 'a rollout without steps is a fixed split: set its weight with the CLI';
  }
  $('act-retry').hidden = phase !== 'Failed';

  render_steps(r);
  render_facts(r);
  render_analysis(r);
  render_events(r);
}

function render_steps(r) {
  const list = $('r-steps');
  list.replaceChildren();
  if (!r.steps) {
    list.append(el('li', { class: 'step current' }, el('strong', {}, 'fixed split'), el('span', {}, r.weight)));
    return;
  }
  const phase = phase_of(r);
  for (let i = 1; i <= r.steps; ++i) {
    let cls = 'step';
    if (phase === 'Succeeded' || i < r.step) {
      cls += ' done';
    } else if (i === r.step) {
      cls += phase === 'Failed' || phase === 'RollingBack' ? ' current failed' : ' current';
    }
    const detail = i === r.step ? `${r.weight}${r.joined_cohorts?.length ? ` + ${r.joined_cohorts.join(', ')}` : ''}` : '';
    list.append(
      el('li', { class: cls, 'data-step': String(i), 'aria-current': i === r.step ? 'step' : 'false' }, el('strong', {}, `Step ${i}`), el('span', {}, detail)),
    );
  }
}

function fact(label, value) {
  return el('div', { class: 'fact' }, el('span', { class: 'muted' }, label), el('strong', {}, value));
}

function render_facts(r) {
  const box = $('r-facts');
  box.replaceChildren();
  if (!r.managed) {
    box.append(fact('canary weight', r.weight), fact('baseline weight', r.baseline_weight ?? '–'));
    return;
  }
  const age = r.age_seconds == null ? '–' : `${Math.floor(r.age_seconds / 60)}m ${Math.floor(r.age_seconds % 60)}s`;
  box.append(
    fact('step requests', String(r.step_requests ?? 0)),
    fact('failed checks', `${r.failed_checks ?? 0} / ${r.threshold ?? '–'}`),
    fact('running for', age),
  );
  for (const [label, m] of [
    ['canary', r.canary_metrics],
    [r.baseline ? 'baseline' : 'stable', r.baseline_metrics],
  ]) {
    if (m) {
      box.append(fact(`${label} success · p50 · p99`, `${pct(m.success_rate)} · ${ms(m.p50_ms)} · ${ms(m.p99_ms)}`));
    }
  }
}

// A metric's value in its unit: ratios as percentages, latencies (seconds) in ms.
function metric_value(name, v) {
  if (v == null) {
    return '–';
  }
  if (name === 'success-rate' || name === 'error-rate') {
    return pct(v);
  }
  if (name.startsWith('latency-')) {
    return ms(v * 1000);
  }
  return String(+v.toPrecision(4));
}

function render_analysis(r) {
  const box = $('analysis');
  box.replaceChildren();
  const a = r.last_analysis;
  if (!a || !a.at) {
    $('a-when').textContent = '';
    box.append(el('p', { class: 'muted' }, r.managed ? 'No analysis yet.' : 'A fixed split is not analysed.'));
    return;
  }
  $('a-when').textContent = `at ${new Date(a.at).toLocaleTimeString([], { hour12: false })} · ${a.canary_requests} canary / ${a.baseline_requests} baseline requests`;
  const rows = (a.metrics || []).map((m) => {
    const limit = [m.min != null ? `≥ ${metric_value(m.name, m.min)}` : null, m.max != null ? `≤ ${metric_value(m.name, m.max)}` : null]
      .filter(Boolean)
      .join(' and ');
    return el(
      'tr',
      {},
      el('td', {}, m.name),
      el('td', { class: 'num' }, metric_value(m.name, m.value)),
      el('td', { class: 'num' }, metric_value(m.name, m.baseline)),
      el('td', { class: 'num' }, limit || '–'),
      el('td', {}, el('span', { class: `verdict verdict-${m.result}` }, m.result)),
    );
  });
  box.append(
    el(
      'table',
      { class: 'analysis' },
      el('thead', {}, el('tr', {}, ...['metric', 'canary', 'baseline', 'threshold', 'result'].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...rows),
    ),
  );
  if (a.sequential) {
    const s = a.sequential;
    box.append(
      el(
        'div',
        { class: 'evidence' },
        el('span', { class: `verdict verdict-${s.rejected ? 'fail' : 'pass'}` }, s.rejected ? 'regression' : 'no evidence'),
        el('strong', {}, ' Sequential test: '),
        `e-value ${num(s.e_value)} (rejects at ${num(s.threshold)}) · odds ratio ${num(s.odds_ratio)} · ${s.seconds}s of data`,
        s.summary ? el('div', { class: 'muted' }, s.summary) : null,
      ),
    );
  }
  if (a.judge) {
    const j = a.judge;
    box.append(
      el(
        'div',
        { class: 'evidence' },
        el('span', { class: `verdict verdict-${j.verdict}` }, j.verdict),
        el('strong', {}, ' Judge: '),
        `score ${j.score.toFixed(0)} / 100`,
        j.summary ? el('div', { class: 'muted' }, j.summary) : null,
      ),
    );
  }
}

function render_events(r) {
  const list = $('events');
  if (!r) {
    return;
  }
  // A stream line the server's list already has (an action's answer can
  // bring it first) is shown once.
  const known = new Set((r.events || []).slice(-50).map((e) => e.message));
  const live = (state.live_events.get(r.name) || []).filter((e) => !known.has(e.message));
  const events = [...(r.events || []), ...live].slice(-max_events).reverse();
  list.replaceChildren();
  if (events.length === 0) {
    list.append(el('li', { class: 'muted' }, 'No events yet.'));
    return;
  }
  for (const e of events) {
    const when = new Date(e.time);
    list.append(
      el(
        'li',
        { class: `event level-${e.level}` },
        el('time', { dateTime: e.time }, isNaN(when) ? e.time : when.toLocaleTimeString([], { hour12: false })),
        el('span', { class: 'level' }, e.level),
        el('span', {}, e.message),
      ),
    );
  }
}

// The arms to draw: canary, baseline (when configured) and stable, by subset name.
function arms_of(r) {
  const arms = [{ subset: r.canary, label: 'canary', colour: colours.canary }];
  if (r.baseline) {
    arms.push({ subset: r.baseline, label: 'baseline', colour: colours.baseline });
  }
  arms.push({ subset: r.stable, label: 'stable', colour: colours.stable });
  return arms;
}

function make_charts(r) {
  if (state.charts) {
    state.charts.share.destroy();
    state.charts.success.destroy();
    state.charts.latency.destroy();
  }
  const arms = arms_of(r);
  state.charts = {
    name: r.name,
    arms,
    share: new time_chart($('chart-share'), {
      unit: 'ratio',
      range: [0, 1],
      series: [
        { label: 'target', colour: colours.target, stepped: true, dash: [6, 4] },
        { label: 'realised', colour: colours.canary },
      ],
    }),
    success: new time_chart($('chart-success'), {
      unit: 'ratio',
      range: (u, min) => [Math.min(min ?? 0.9, 0.9), 1.0005],
      series: arms.map((a) => ({ label: a.label, colour: a.colour })),
    }),
    latency: new time_chart($('chart-latency'), {
      unit: 'ms',
      series: arms.flatMap((a) => [
        { label: `${a.label} p99`, colour: a.colour },
        { label: `${a.label} p50`, colour: a.colour, dash: [4, 4], width: 1.5 },
      ]),
    }),
  };
}

function render_charts() {
  const r = state.rollouts.get(state.selected);
  if (!r) {
    return;
  }
  if (!state.charts || state.charts.name !== r.name) {
    make_charts(r);
  }
  const samples = state.samples.get(r.name) || [];
  const t = samples.map((s) => s.t);
  const arm = (s, a, field) => s.arms[a.subset]?.[field] ?? null;
  const { arms } = state.charts;
  state.charts.share.set([t, samples.map((s) => s.target), samples.map((s) => s.realised)]);
  state.charts.success.set([t, ...arms.map((a) => samples.map((s) => arm(s, a, 'success_rate')))]);
  state.charts.latency.set([
    t,
    ...arms.flatMap((a) => [samples.map((s) => arm(s, a, 'p99_ms')), samples.map((s) => arm(s, a, 'p50_ms'))]),
  ]);
}

// ---------------------------------------------------------------------------
// Operator actions and the token

function show_message(text, ok) {
  const m = $('action-message');
  m.hidden = false;
  m.textContent = text;
  m.className = `message ${ok ? 'ok' : 'error'}`;
}

function wire_actions() {
  for (const button of document.querySelectorAll('.actions .act')) {
    button.addEventListener('click', async () => {
      const name = state.selected;
      const action = button.dataset.action;
      if ((action === 'abort' || action === 'promote') && !window.confirm(`${action} rollout ${name}?`)) {
        return;
      }
      button.dataset.busy = '1';
      button.disabled = true;
      try {
        const r = await act(name, action);
        if (r && r.name) {
          state.rollouts.set(r.name, r);
        }
        show_message(`${action}: ${name} is now ${r ? phase_of(r) : 'updated'}`, true);
      } catch (e) {
        show_message(`${action} ${name} refused: ${e.message}`, false);
      } finally {
        delete button.dataset.busy;
        render();
      }
    });
  }
}

function wire_token() {
  const input = $('token-input');
  const show = () => {
    $('token-state').textContent = sessionStorage.getItem(token_key) ? 'token set for this tab' : '';
  };
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (value) {
      sessionStorage.setItem(token_key, value);
    } else {
      sessionStorage.removeItem(token_key);
    }
    input.value = '';
    show();
  });
  $('token-clear').addEventListener('click', () => {
    sessionStorage.removeItem(token_key);
    input.value = '';
    show();
  });
  show();
}

async function main() {
  wire_token();
  wire_actions();
  await refresh_rollouts();
  try {
    await load_history();
  } catch (e) {
    console.warn(e);
  }
  render_charts();
  connect_stream();
  // Analysis verdicts and windowed metrics change without an event: poll them.
  setInterval(refresh_rollouts, 2000);
}

main();
