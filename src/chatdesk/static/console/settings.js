// Settings (admins and owners): sites and their widget, operators, canned responses, API tokens;
// the audit log (owners only).
import { api, query } from './api.js';
import './chrome.js';
import { clear, h, shortTime } from './dom.js';
import { checkbox, confirmButton, copyText, field, select } from './forms.js';

const root = document.getElementById('settings-root');
const statusLine = document.getElementById('settings-status');
const section = document.getElementById('settings').dataset.section;
const me = { id: document.body.dataset.operatorId, role: document.body.dataset.role };
const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
const PRECHAT = [['off', 'Off'], ['optional', 'Optional'], ['required', 'Required']];

function say(text, { error = false } = {}) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', error);
}

async function attempt(action, success) {
  say('');
  try {
    const result = await action();
    if (success) say(success);
    return result;
  } catch (error) {
    say(error.message, { error: true });
    return undefined;
  }
}

function card(title, ...children) {
  return h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h3', { text: title })), ...children);
}

// -- sites -------------------------------------------------------------------------

function embedSnippet(site) {
  return `<script src="${location.origin}/widget.js" data-site="${site.site_key}" async></script>`;
}

function hoursEditor(hours) {
  const enabled = checkbox('Only show as online during business hours', Boolean(hours));
  const zone = h('input', { list: 'timezones', value: hours?.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone, autocomplete: 'off' });
  const zones = h('datalist', { id: 'timezones' }, (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []).map((z) => h('option', { value: z })));
  const rows = DAYS.map(([key, name]) => {
    const span = hours?.days?.[key]?.[0];
    const day = checkbox(name, hours ? Boolean(span) : !['sat', 'sun'].includes(key));
    const from = h('input', { type: 'time', value: span?.[0] || '09:00', 'aria-label': `${name} opens at` });
    const to = h('input', { type: 'time', value: span?.[1] || '17:00', 'aria-label': `${name} closes at` });
    return { key, day, from, to };
  });
  const grid = h('div', { class: 'hours' }, rows.map((r) => [r.day.node, r.from, r.to]));
  const node = h('fieldset', { class: 'full stack' },
    h('legend', { class: 'label', text: 'Business hours' }),
    enabled.node,
    field('Time zone', zone, 'IANA name, e.g. Europe/Paris'),
    zones,
    grid);
  const sync = () => {
    for (const r of rows) {
      r.day.input.disabled = !enabled.input.checked;
      r.from.disabled = r.to.disabled = !enabled.input.checked || !r.day.input.checked;
    }
    zone.disabled = !enabled.input.checked;
  };
  enabled.input.addEventListener('change', sync);
  rows.forEach((r) => r.day.input.addEventListener('change', sync));
  sync();
  return {
    node,
    value() {
      if (!enabled.input.checked) return null;
      const days = {};
      for (const r of rows) {
        // The form edits the first span of a day; further spans (set over the API) are kept.
        const extra = (hours?.days?.[r.key] || []).slice(1);
        if (r.day.input.checked) days[r.key] = [[r.from.value, r.to.value], ...extra];
      }
      return { timezone: zone.value.trim(), days };
    },
  };
}

function siteForm(site, onSaved) {
  const name = h('input', { value: site.name, required: true, maxlength: 200 });
  const origins = h('textarea', { rows: 3, spellcheck: 'false' });
  origins.value = site.allowed_origins.join('\n');
  const greeting = h('textarea', { rows: 2, maxlength: 500 });
  greeting.value = site.greeting || '';
  const colour = h('input', { type: 'color', value: site.accent_color || '#2563eb' });
  const position = select([['right', 'Bottom right'], ['left', 'Bottom left']], site.position);
  const prechatName = select(PRECHAT, site.prechat?.name);
  const prechatEmail = select(PRECHAT, site.prechat?.email);
  const offline = h('textarea', { rows: 2, maxlength: 500 });
  offline.value = site.offline_message || '';
  const hours = hoursEditor(site.business_hours);
  const enabled = checkbox('Widget enabled', site.enabled);
  const identityRequired = checkbox('Require a signed identity token (only logged-in users of your site can chat)', site.identity_required);
  const replayProtection = checkbox('Accept each identity token only once (tokens must carry a jti claim)', site.identity_replay_protection);
  const form = h('form', { class: 'grid-2', 'aria-label': `Widget settings for ${site.name}` },
    field('Site name', name),
    field('Accent colour', colour),
    h('div', { class: 'full' }, field('Allowed origins', origins, 'One per line, like https://shop.example.com (no path). The widget only loads on these.')),
    h('div', { class: 'full' }, field('Greeting', greeting, 'The first thing visitors read.')),
    field('Launcher position', position),
    h('div', {}),
    field('Ask for name before chat', prechatName),
    field('Ask for email before chat', prechatEmail),
    hours.node,
    h('div', { class: 'full' }, field('Offline message', offline, 'Shown outside business hours; visitors can leave a message and their email.')),
    h('div', { class: 'full checks' }, enabled.node, identityRequired.node, replayProtection.node),
    h('div', { class: 'full actions' }, h('button', { type: 'submit', class: 'button primary', text: 'Save changes' })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      allowed_origins: origins.value.split(/[\s,]+/).map((o) => o.trim()).filter(Boolean),
      greeting: greeting.value,
      accent_color: colour.value,
      position: position.value,
      prechat: { name: prechatName.value, email: prechatEmail.value },
      offline_message: offline.value,
      business_hours: hours.value(),
      enabled: enabled.input.checked,
      identity_required: identityRequired.input.checked,
      identity_replay_protection: replayProtection.input.checked,
    };
    const saved = await attempt(() => api('PATCH', `/api/v1/sites/${encodeURIComponent(site.id)}`, body), 'Saved.');
    if (saved) onSaved(saved);
  });
  return form;
}

function identityCard(site, onSaved) {
  const secret = h('input', { class: 'code', readonly: true, value: site.identity_secret || '', 'aria-label': 'Identity secret' });
  const copy = h('button', { type: 'button', class: 'button small-button', text: 'Copy secret' });
  copy.addEventListener('click', () => copyText(secret.value, secret, copy));
  const rotate = confirmButton('Rotate secret', 'Click again to rotate', async () => {
    const saved = await attempt(
      () => api('PATCH', `/api/v1/sites/${encodeURIComponent(site.id)}`, { rotate_identity_secret: true }),
      'A new identity secret was created; tokens signed with the old one no longer work.',
    );
    if (saved) onSaved(saved);
  });
  return card('Identity verification',
    h('p', { class: 'muted', text: 'Your backend signs a short-lived JWT (HS256, with sub and exp) using this secret and passes it to the widget, so the same signed-in customer is recognised on every device.' }),
    h('div', { class: 'copy-row' }, secret, copy),
    h('p', { class: 'actions' }, rotate));
}

function embedCard(site) {
  const code = h('textarea', { class: 'code', rows: 2, readonly: true, 'aria-label': 'Embed snippet', spellcheck: 'false' });
  code.value = embedSnippet(site);
  const copy = h('button', { type: 'button', class: 'button small-button', text: 'Copy snippet' });
  copy.addEventListener('click', () => copyText(code.value, code, copy));
  return card('Embed snippet',
    h('p', { class: 'muted', text: 'Paste this before </body> on every page of your site.' }),
    h('div', { class: 'copy-row' }, code, copy));
}

async function renderSites() {
  const { sites } = await api('GET', '/api/v1/sites');
  const wanted = new URLSearchParams(location.search).get('site');
  const current = sites.find((s) => s.id === wanted) || sites[0];
  clear(root);
  if (sites.length) {
    root.appendChild(h('ul', { class: 'site-list', 'aria-label': 'Sites' }, sites.map((s) => h('li', {},
      h('a', { href: `?site=${encodeURIComponent(s.id)}`, 'aria-current': s === current ? 'true' : null }, s.name, s.enabled ? null : h('span', { class: 'pill off', text: ' disabled' }))))));
  }
  if (current) {
    const rerender = (saved) => {
      history.replaceState({}, '', `?site=${encodeURIComponent(saved.id)}`);
      renderSites();
    };
    root.append(
      card(current.name, h('p', { class: 'muted small' }, 'Site key: ', h('code', { text: current.site_key })), siteForm(current, rerender)),
      embedCard(current),
      identityCard(current, rerender),
    );
  }
  const name = h('input', { required: true, maxlength: 200 });
  const origin = h('input', { placeholder: 'https://shop.example.com' });
  const create = h('form', { class: 'grid-2', 'aria-label': 'Add a site' },
    field('New site name', name),
    field('Website origin', origin, 'Where the widget will run; more can be added later.'),
    h('div', { class: 'full actions' }, h('button', { type: 'submit', class: 'button primary', text: 'Add site' })));
  create.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), allowed_origins: origin.value.trim() ? [origin.value.trim()] : [] };
    const site = await attempt(() => api('POST', '/api/v1/sites', body), 'Site added. Copy its embed snippet below.');
    if (site) {
      history.replaceState({}, '', `?site=${encodeURIComponent(site.id)}`);
      await renderSites();
      say('Site added. Copy its embed snippet below.');
    }
  });
  root.appendChild(card('Add a site', create));
}

// -- operators -------------------------------------------------------------------------

/** Which sites an agent answers for: a summary that opens into checkboxes. */
function siteEditor(op, sites) {
  const names = sites.filter((s) => (op.site_ids || []).includes(s.id)).map((s) => s.name);
  const boxes = sites.map((s) => ({ id: s.id, ...checkbox(s.name, (op.site_ids || []).includes(s.id)) }));
  const save = h('button', { type: 'button', class: 'button small-button', text: 'Save sites', 'aria-label': `Save sites of ${op.name}` });
  save.addEventListener('click', async () => {
    const site_ids = boxes.filter((b) => b.input.checked).map((b) => b.id);
    if (await attempt(() => api('PATCH', `/api/v1/operators/${encodeURIComponent(op.id)}`, { site_ids }), `${op.name}'s sites were saved.`)) renderOperators();
  });
  return h('details', { class: 'site-editor' },
    h('summary', {}, h('span', { class: 'visually-hidden', text: `Sites of ${op.name}: ` }), names.length ? names.join(', ') : 'No sites'),
    h('div', { class: 'stack' }, boxes.map((b) => b.node), save));
}

async function renderOperators() {
  const [{ operators }, { sites }] = await Promise.all([api('GET', '/api/v1/operators'), api('GET', '/api/v1/sites')]);
  const roles = me.role === 'owner' ? [['agent', 'Agent'], ['admin', 'Admin'], ['owner', 'Owner']] : [['agent', 'Agent'], ['admin', 'Admin']];
  clear(root);
  const rows = operators.map((op) => {
    const self = op.id === me.id;
    const role = select(op.role === 'owner' && me.role !== 'owner' ? [['owner', 'Owner']] : roles, op.role, {
      'aria-label': `Role of ${op.name}`,
      disabled: self || (op.role === 'owner' && me.role !== 'owner'),
    });
    role.addEventListener('change', () => attempt(() => api('PATCH', `/api/v1/operators/${encodeURIComponent(op.id)}`, { role: role.value }), `${op.name} is now ${role.value}.`));
    const toggle = op.active
      ? confirmButton('Deactivate', 'Click again to deactivate', async () => {
        if (await attempt(() => api('PATCH', `/api/v1/operators/${encodeURIComponent(op.id)}`, { active: false }), `${op.name} was deactivated and signed out.`)) renderOperators();
      }, { 'aria-label': `Deactivate ${op.name}`, disabled: self })
      : h('button', {
        type: 'button', class: 'button small-button', text: 'Reactivate', 'aria-label': `Reactivate ${op.name}`,
        onclick: async () => {
          if (await attempt(() => api('PATCH', `/api/v1/operators/${encodeURIComponent(op.id)}`, { active: true }), `${op.name} was reactivated.`)) renderOperators();
        },
      });
    return h('tr', {},
      h('td', {}, h('strong', { text: op.name }), self ? h('span', { class: 'muted', text: ' (you)' }) : null),
      h('td', { text: op.email }),
      h('td', {}, role),
      h('td', {}, op.role === 'agent' ? siteEditor(op, sites) : h('span', { class: 'muted', text: 'All sites' })),
      h('td', {}, h('span', { class: op.active ? 'pill' : 'pill off', text: op.active ? 'Active' : 'Deactivated' })),
      h('td', {}, toggle));
  });
  root.appendChild(card('Team', h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, ['Name', 'Email', 'Role', 'Sites', 'Status', ''].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, rows)))));

  const name = h('input', { required: true, maxlength: 200, autocomplete: 'off' });
  const email = h('input', { type: 'email', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', required: true, minlength: 10, autocomplete: 'new-password' });
  const role = select(roles, 'agent');
  const siteBoxes = sites.map((s) => ({ id: s.id, ...checkbox(s.name, true) }));
  const form = h('form', { class: 'grid-2', 'aria-label': 'Add an operator' },
    field('Name', name),
    field('Email', email),
    field('Password', password, 'At least 10 characters; share it privately, they can use it right away.'),
    field('Role', role, 'Agents answer chats on their sites; admins also change settings.'),
    sites.length ? h('fieldset', { class: 'full' }, h('legend', { class: 'label', text: 'Sites (for agents)' }), h('div', { class: 'checks' }, siteBoxes.map((b) => b.node))) : null,
    h('div', { class: 'full actions' }, h('button', { type: 'submit', class: 'button primary', text: 'Add operator' })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), email: email.value.trim(), password: password.value, role: role.value };
    if (sites.length) body.site_ids = siteBoxes.filter((b) => b.input.checked).map((b) => b.id);
    const created = await attempt(() => api('POST', '/api/v1/operators', body));
    if (created) {
      await renderOperators();
      say(`${created.name} can now sign in as ${created.email}.`);
    }
  });
  root.appendChild(card('Add an operator', form));
}

// -- canned responses ------------------------------------------------------------------

async function renderCanned() {
  const { canned_responses: canned } = await api('GET', '/api/v1/canned-responses');
  clear(root);
  const rows = canned.map((c) => h('tr', {},
    h('td', {}, h('code', { text: `/${c.shortcut}` })),
    h('td', { class: 'msg-body', text: c.body }),
    h('td', {}, confirmButton('Delete', 'Click again to delete', async () => {
      if (await attempt(() => api('DELETE', `/api/v1/canned-responses/${encodeURIComponent(c.id)}`), `/${c.shortcut} was deleted.`) !== undefined) renderCanned();
    }, { 'aria-label': `Delete /${c.shortcut}` }))));
  root.appendChild(card('Canned responses', canned.length
    ? h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, ['Shortcut', 'Text', ''].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows)))
    : h('p', { class: 'muted', text: 'None yet. Operators type /shortcut in the reply box to insert one.' })));
  const shortcut = h('input', { required: true, pattern: '[a-z0-9_-]{1,50}', placeholder: 'refund', autocomplete: 'off' });
  const text = h('textarea', { rows: 3, required: true, maxlength: 10000 });
  const form = h('form', { class: 'grid-2', 'aria-label': 'Add a canned response' },
    field('Shortcut', shortcut, 'Lower-case letters, digits, - and _. Typed as /shortcut.'),
    h('div', { class: 'full' }, field('Response text', text)),
    h('div', { class: 'full actions' }, h('button', { type: 'submit', class: 'button primary', text: 'Add canned response' })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { shortcut: shortcut.value.trim().replace(/^\//, '').toLowerCase(), body: text.value };
    if (await attempt(() => api('POST', '/api/v1/canned-responses', body))) {
      await renderCanned();
      say(`/${body.shortcut} was added.`);
    }
  });
  root.appendChild(card('Add a canned response', form));
}

// -- API tokens ------------------------------------------------------------------------

async function renderTokens(justCreated) {
  const { api_tokens: tokens } = await api('GET', '/api/v1/api-tokens');
  clear(root);
  if (justCreated) {
    const value = h('input', { class: 'code', readonly: true, value: justCreated.token, 'aria-label': 'New API token' });
    const copy = h('button', { type: 'button', class: 'button small-button', text: 'Copy token' });
    copy.addEventListener('click', () => copyText(value.value, value, copy));
    root.appendChild(h('div', { class: 'card token-once' },
      h('h3', { text: `Token "${justCreated.name}" created` }),
      h('p', { text: 'Copy it now: it is shown only once. Send it as Authorization: Bearer <token>.' }),
      h('div', { class: 'copy-row' }, value, copy)));
  }
  const rows = tokens.map((t) => h('tr', {},
    h('td', { text: t.name }),
    h('td', {}, h('code', { text: `${t.prefix}…` })),
    h('td', { text: t.role }),
    h('td', { text: shortTime(t.created_at) }),
    h('td', { text: t.last_used_at ? shortTime(t.last_used_at) : 'Never' }),
    h('td', {}, confirmButton('Revoke', 'Click again to revoke', async () => {
      if (await attempt(() => api('DELETE', `/api/v1/api-tokens/${encodeURIComponent(t.id)}`), `${t.name} was revoked.`) !== undefined) renderTokens();
    }, { 'aria-label': `Revoke ${t.name}` }))));
  root.appendChild(card('API tokens', tokens.length
    ? h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, ['Name', 'Token', 'Role', 'Created', 'Last used', ''].map((x) => h('th', { scope: 'col', text: x })))),
      h('tbody', {}, rows)))
    : h('p', { class: 'muted', text: 'No tokens. Integrations use them to call the API (see /api/docs).' })));
  const name = h('input', { required: true, maxlength: 200, autocomplete: 'off' });
  const role = select([['agent', 'Agent'], ['admin', 'Admin']], 'agent');
  const form = h('form', { class: 'grid-2', 'aria-label': 'Create an API token' },
    field('Token name', name, 'What will use it, e.g. "CRM sync".'),
    field('Token role', role),
    h('div', { class: 'full actions' }, h('button', { type: 'submit', class: 'button primary', text: 'Create token' })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const created = await attempt(() => api('POST', '/api/v1/api-tokens', { name: name.value.trim(), role: role.value }));
    if (created) await renderTokens(created);
  });
  root.appendChild(card('Create an API token', form));
}

// -- audit log (owners) ------------------------------------------------------------------

const AUDIT_PAGE = 50;
const ACTIONS = [
  ['auth.login', 'Signed in'],
  ['auth.login_failed', 'Failed sign-in'],
  ['auth.logout', 'Signed out'],
  ['operator.password_change', 'Changed own password'],
  ['operator.create', 'Added an operator'],
  ['operator.update', 'Changed an operator'],
  ['site.create', 'Added a site'],
  ['site.update', 'Changed a site'],
  ['canned_response.create', 'Added a canned response'],
  ['canned_response.delete', 'Deleted a canned response'],
  ['api_token.create', 'Created an API token'],
  ['api_token.revoke', 'Revoked an API token'],
  ['conversation.status', 'Changed a conversation status'],
  ['conversation.assignee_id', 'Assigned a conversation'],
  ['conversation.labels', 'Changed conversation labels'],
];
const ACTION_LABELS = new Map(ACTIONS);
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

function auditTarget(entry, names) {
  const { target_type: type, target_id: id } = entry;
  if (!type) return h('span', { class: 'muted', text: '—' });
  if (type === 'conversation' && id) {
    return h('a', { href: `/admin/conversations/${encodeURIComponent(id)}`, text: 'Conversation', 'aria-label': `Conversation ${id}` });
  }
  const known = type === 'operator' ? names.operators.get(id)?.name : type === 'site' ? names.sites.get(id) : null;
  if (known) return h('span', {}, h('span', { class: 'muted', text: `${type} ` }), known);
  return h('span', {}, h('span', { class: 'muted', text: type }), id ? [' ', h('code', { class: 'audit-id', title: id, text: id })] : null);
}

function auditWho(entry, names) {
  // No operator: a failed sign-in, or the command line / first start acting on its own.
  if (!entry.operator_id) return h('span', { class: 'muted', text: entry.action === 'auth.login_failed' ? 'Not signed in' : 'System' });
  const op = names.operators.get(entry.operator_id);
  if (!op) return h('span', {}, 'Unknown operator ', h('code', { class: 'audit-id', title: entry.operator_id, text: entry.operator_id }));
  return h('span', {}, op.name, entry.operator_id === me.id ? h('span', { class: 'muted', text: ' (you)' }) : null);
}

/** A cell whose content sits in one box, so the phone layout can label it (td::before). */
function auditCell(label, ...children) {
  return h('td', { 'data-label': label }, h('div', { class: 'audit-cell' }, ...children));
}

function auditRow(entry, names) {
  const details = entry.details && Object.keys(entry.details).length ? JSON.stringify(entry.details) : '';
  const label = ACTION_LABELS.get(entry.action);
  const when = new Date(entry.created_at);
  return h('tr', { dataset: { id: entry.id, action: entry.action } },
    auditCell('When', h('time', { datetime: entry.created_at, title: when.toISOString() },
      h('span', { class: 'audit-clock', text: clockFormat.format(when) }), ' ', h('span', { class: 'audit-date', text: dateFormat.format(when) }))),
    auditCell('Who', auditWho(entry, names)),
    auditCell('Action', label ? h('span', { class: 'audit-action', text: label }) : null, h('code', { class: 'audit-code', text: entry.action })),
    auditCell('Target', auditTarget(entry, names)),
    auditCell('IP', h('span', { class: 'audit-ip', text: entry.ip || '—' })),
    auditCell('Details', details ? h('code', { class: 'audit-details', text: details }) : h('span', { class: 'muted', text: '—' })));
}

async function renderAudit() {
  const [{ operators }, { sites }] = await Promise.all([api('GET', '/api/v1/operators'), api('GET', '/api/v1/sites')]);
  const names = { operators: new Map(operators.map((o) => [o.id, o])), sites: new Map(sites.map((s) => [s.id, s.name])) };
  const params = new URLSearchParams(location.search);
  const wantedAction = /^[a-z_.]{1,60}$/.test(params.get('action') || '') ? params.get('action') : '';
  const actionOptions = [['', 'Any action'], ...ACTIONS.map(([value, text]) => [value, `${text} (${value})`])];
  if (wantedAction && !ACTION_LABELS.has(wantedAction)) actionOptions.push([wantedAction, wantedAction]);
  const action = select(actionOptions, wantedAction, { name: 'action' });
  const sorted = [...operators].sort((a, b) => a.name.localeCompare(b.name));
  const wantedOperator = names.operators.has(params.get('operator_id')) ? params.get('operator_id') : '';
  const operator = select([['', 'Anyone'], ...sorted.map((o) => [o.id, o.active ? o.name : `${o.name} (deactivated)`])], wantedOperator, { name: 'operator_id' });
  const filters = h('form', { class: 'audit-filters', role: 'search', 'aria-label': 'Filter the audit log' },
    field('Action', action),
    field('Operator', operator));
  const body = h('tbody', {});
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'table audit-table', 'aria-label': 'Audit log entries' },
    h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Target', 'IP', 'Details'].map((t) => h('th', { scope: 'col', text: t })))),
    body));
  const empty = h('p', { class: 'muted', hidden: true, text: 'No entries match these filters.' });
  const end = h('p', { class: 'muted small audit-end', hidden: true, text: 'No older entries.' });
  const older = h('button', { type: 'button', class: 'button load-more', hidden: true, text: 'Load older entries' });
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  clear(root);
  root.append(
    card('Entries', h('p', { class: 'muted small', text: `Every sign-in and settings change, newest first. Times are in your time zone (${zone}).` }), filters, table, empty, older, end),
  );

  let before = null;
  let generation = 0;
  async function load(reset) {
    const mine = ++generation;
    if (reset) before = null;
    older.disabled = true;
    body.setAttribute('aria-busy', 'true');
    const path = `/api/v1/audit-log${query({ action: action.value, operator_id: operator.value, before, limit: AUDIT_PAGE })}`;
    let entries;
    try {
      ({ entries } = await api('GET', path));
    } catch (error) {
      if (mine === generation) say(error.message, { error: true });
      return;
    } finally {
      if (mine === generation) {
        older.disabled = false;
        body.removeAttribute('aria-busy');
      }
    }
    if (mine !== generation) return;
    say('');
    if (reset) clear(body);
    body.append(...entries.map((entry) => auditRow(entry, names)));
    if (entries.length) before = entries[entries.length - 1].id;
    const rows = body.childElementCount;
    table.hidden = rows === 0;
    empty.hidden = rows !== 0;
    older.hidden = entries.length < AUDIT_PAGE;
    end.hidden = rows === 0 || entries.length === AUDIT_PAGE;
  }
  const refilter = () => {
    history.replaceState({}, '', location.pathname + query({ action: action.value, operator_id: operator.value }));
    load(true);
  };
  action.addEventListener('change', refilter);
  operator.addEventListener('change', refilter);
  filters.addEventListener('submit', (event) => event.preventDefault());
  older.addEventListener('click', () => load(false));
  await load(true);
}

const RENDER = { sites: renderSites, operators: renderOperators, canned: renderCanned, tokens: renderTokens, audit: renderAudit };

(async () => {
  try {
    await RENDER[section]();
    document.body.dataset.ready = '1';
  } catch (error) {
    say(error.message, { error: true });
  }
})();
