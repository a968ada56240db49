"""The control room's script and style, served by vodwatch as /app.js and /app.css.

Separate files (not inline) so the Content-Security-Policy can forbid inline code.
The script builds the same structure as ``web_render`` with DOM calls and
``textContent`` only: names from the share are never parsed as HTML.
"""

from __future__ import annotations

APP_JS = r"""'use strict';
(function () {
  var main = document.getElementById('main');
  var tokenBox = document.getElementById('token');
  var said = document.getElementById('said');
  if (tokenBox) { tokenBox.value = sessionStorage.getItem('vodwatch-token') || ''; }
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { el.textContent = attrs[k]; } else { el.setAttribute(k, attrs[k]); }
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) { continue; }
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function when(at) {
    if (at === null || at === undefined) { return ''; }
    var d = new Date(at * 1000);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function size(n) {
    var units = ['B', 'KB', 'MB', 'GB', 'TB'], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(1) : String(Math.round(n))) + ' ' + units[i];
  }
  function duration(s) {
    if (s === null || s === undefined) { return '…'; }
    s = Math.round(s);
    if (s < 60) { return s + ' s'; }
    if (s < 3600) { return Math.floor(s / 60) + ' min ' + (s % 60) + ' s'; }
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function state(f) {
    if (f.available === false) {
      return ['unavailable', f.unavailable || 'the folder cannot be read'];
    }
    var p = f.paused;
    if (p) {
      return ['paused', p.reason + (p.since ? ' since ' + when(p.since) : '') +
        (p.detail ? ': ' + p.detail : '')];
    }
    return ['working', ''];
  }
  function list(title, cls, items, empty) {
    var ul = h('ul', {});
    if (!items.length) { ul.appendChild(h('li', {'class': 'empty', text: empty})); }
    items.forEach(function (li) { ul.appendChild(li); });
    return h('section', {'class': cls}, h('h3', {text: title}), ul);
  }
  function button(action, folder, file, label) {
    var b = h('button', {type: 'button', 'class': 'act', 'data-action': action,
      'data-folder': folder, text: label});
    if (file !== null) { b.setAttribute('data-file', file); }
    return b;
  }
  function upload(u) {
    var pct = Number(u.percent).toFixed(1);
    var rate = u.rate_bytes_per_s ? size(u.rate_bytes_per_s) + '/s' : '…';
    return h('li', {'class': 'upload', 'data-asset': u.asset_id},
      h('span', {'class': 'file', text: u.file}), ' ',
      h('progress', {max: '100', value: pct, text: pct + '%'}), ' ',
      h('span', {'class': 'pct', text: pct + '%'}), ' ',
      h('span', {'class': 'meta', text: size(u.sent) + ' of ' + size(u.total) + ', ' + rate +
        ', ETA ' + duration(u.eta_s)}));
  }
  function folder(f) {
    var st = state(f), paused = st[0] === 'paused';
    var title = h('h2', {}, (f.label || f.name) + ' ', h('span', {'class': 'state', text: st[0]}),
      st[1] ? ' ' : null, st[1] ? h('span', {'class': 'why', text: st[1]}) : null, ' ',
      button(paused ? 'resume' : 'pause', f.name, null, paused ? 'Resume' : 'Pause'));
    var art = h('article', {'class': 'folder ' + st[0], 'data-folder': f.name}, title,
      h('p', {'class': 'path', text: (f.paths || {}).inbox || f.name}));
    art.appendChild(list('Uploading', 'uploads', (f.in_flight || []).map(upload),
      'nothing is being uploaded'));
    art.appendChild(list('Queue', 'queue', (f.queue || []).map(function (q) {
      return h('li', {}, h('span', {'class': 'file', text: q.file}), ' ',
        h('span', {'class': 'meta',
          text: size(q.size) + ', ' + (q.settled ? 'settled' : 'settling')}));
    }), 'empty'));
    if ((f.waiting || []).length) {
      art.appendChild(list('Waiting to retry', 'waiting', f.waiting.map(function (w) {
        return h('li', {}, h('span', {'class': 'file', text: w.files.join(', ')}), ' ',
          h('span', {'class': 'meta',
            text: 'retry in ' + duration(w.retry_in_s) + ': ' + w.reason}));
      }), ''));
    }
    art.appendChild(list('Failed', 'failed', (f.recent_failed || []).map(function (o) {
      return h('li', {}, h('span', {'class': 'when', text: when(o.at)}), ' ',
        h('span', {'class': 'file', text: o.file}), ' ',
        h('span', {'class': 'why', text: o.detail}),
        ' ', button('retry', f.name, o.file, 'Retry'));
    }), 'no failed files'));
    art.appendChild(list('Done', 'done', (f.recent_done || []).map(function (o) {
      return h('li', {}, h('span', {'class': 'when', text: when(o.at)}), ' ',
        h('span', {'class': 'file', text: o.file}), ' ',
        h('span', {'class': 'meta', text: o.asset_id}));
    }), 'nothing yet'));
    if ((f.titles || []).length) {
      art.appendChild(list('Titles created here', 'titles', f.titles.map(function (t) {
        return h('li', {}, h('span', {'class': 'file', text: t.title}), ' ',
          h('span', {'class': 'meta',
            text: t.asset_id ? t.asset_id : 'being created since ' + when(t.since)}));
      }), ''));
    }
    return art;
  }
  function render(data) {
    var frag = document.createDocumentFragment();
    var d = data.daemon || {};
    frag.appendChild(h('p', {'class': 'daemon'}, 'vodwatch is ',
      h('strong', {text: d.status || 'unknown'}), '; as of ' + when(data.now)));
    if ((data.problems || []).length) {
      var ul = h('ul', {'class': 'problems'});
      data.problems.forEach(function (p) { ul.appendChild(h('li', {text: p})); });
      frag.appendChild(ul);
    }
    (data.folders || []).forEach(function (f) { frag.appendChild(folder(f)); });
    main.replaceChildren(frag);
  }
  function refresh() {
    fetch('/status.json', {cache: 'no-store', credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (data) { render(data); document.body.classList.remove('stale'); })
      .catch(function () { document.body.classList.add('stale'); })
      .then(function () { setTimeout(refresh, 2000); });
  }
  main.addEventListener('click', function (ev) {
    var b = ev.target.closest('button.act');
    if (!b) { return; }
    var token = tokenBox ? tokenBox.value : '';
    if (tokenBox) { sessionStorage.setItem('vodwatch-token', token); }
    var body = {folder: b.getAttribute('data-folder')};
    if (b.hasAttribute('data-file')) { body.file = b.getAttribute('data-file'); }
    fetch('/api/' + b.getAttribute('data-action'), {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-Vodwatch-Token': token},
      body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
      .then(function (res) {
        if (said) { said.textContent = res[1].message || res[1].error || String(res[0]); }
      })
      .catch(function (e) { if (said) { said.textContent = String(e); } });
  });
  setTimeout(refresh, 2000);
})();
"""

APP_CSS = """\
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; padding: 0 0.8rem 2rem; }
header { display: flex; flex-wrap: wrap; gap: 0.6rem; align-items: baseline;
  justify-content: space-between; border-bottom: 1px solid #8884; }
h1 { font-size: 1.25rem; margin: 0.6rem 0; }
h2 { font-size: 1.1rem; margin: 0 0 0.2rem; display: flex; flex-wrap: wrap; gap: 0.4rem;
  align-items: baseline; }
h3 { font-size: 0.95rem; margin: 0.6rem 0 0.2rem; }
.folder { border: 1px solid #8886; border-left: 6px solid var(--ok); border-radius: 6px;
  padding: 0.6rem 0.8rem; margin: 0.8rem 0; max-width: 72rem; }
.folder.paused { border-left-color: var(--warn); }
.folder.unavailable { border-left-color: var(--bad); }
.state { text-transform: uppercase; font-size: 0.75rem; letter-spacing: 0.05em;
  padding: 0.05rem 0.4rem; border-radius: 4px; background: #8883; }
.paused .state { background: var(--warn); color: #fff; }
.unavailable .state { background: var(--bad); color: #fff; }
.why { font-size: 0.9rem; }
.path { margin: 0; font-size: 0.8rem; opacity: 0.75; word-break: break-all; }
ul { list-style: none; margin: 0; padding: 0; }
li { padding: 0.15rem 0; overflow-wrap: anywhere; }
li.empty { opacity: 0.6; }
.file { font-weight: 600; }
.meta, .when { font-size: 0.85rem; opacity: 0.8; }
.failed .why { color: var(--bad); }
progress { width: min(20rem, 60vw); height: 0.9rem; vertical-align: middle; }
.problems li { color: var(--bad); }
button { font: inherit; padding: 0.2rem 0.7rem; border-radius: 4px; cursor: pointer; }
body.readonly button.act { display: none; }
body.stale main { opacity: 0.6; }
input { font: inherit; max-width: 12rem; }
"""
