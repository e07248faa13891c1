// The s3stream upload page: files with tus-js-client through the gateway, or straight to the
// store with presigned multipart (direct.js) when the gateway says so; a small tus PATCH loop
// for live recordings; the finished-uploads list from /api/uploads/{id}. No frameworks.
'use strict';

(() => {
  const TOKEN_KEY = 's3stream.token';
  const FINISHED_KEY = 's3stream.finished';
  const MAX_ACTIVE = 3;            // files uploading at once; the rest wait their turn
  const RENDER_MS = 250;           // UI updates at most 4 times a second
  const RATE_WINDOW_MS = 4000;     // rate over the last few seconds
  const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
  const TIMESLICE_MS = 1000;       // a MediaRecorder chunk a second

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const config = { endpoint: '/files/', auth: false, tusClient: false, chunkSize: null, mode: 'tus', direct: null };
  const entries = [];
  let nextId = 1;

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function formatBytes(n) {
    if (n === null || n === undefined || Number.isNaN(n)) return '?';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
  }

  function formatDuration(s) {
    if (!Number.isFinite(s) || s < 0) return '';
    s = Math.round(s);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
  }

  function pct(done, total) {
    return total ? Math.floor((done / total) * 100) : 0;
  }

  function token() {
    return localStorage.getItem(TOKEN_KEY) || '';
  }

  function authHeaders() {
    const t = token();
    return t ? { Authorization: `Bearer ${t}` } : {};
  }

  function showBanner(message) {
    const banner = $('banner');
    banner.textContent = message;
    banner.hidden = !message;
  }

  function statusOf(err) {
    const res = err && err.originalResponse;
    return res && typeof res.getStatus === 'function' ? res.getStatus() : 0;
  }

  function describeError(err) {
    const status = statusOf(err);
    if (status === 401) return 'the token was rejected (401): check the access token';
    if (status === 413) return 'the file is too large for this server (413)';
    if (status === 404) return 'the upload no longer exists on the server (404)';
    if (status) return `the server answered ${status}`;
    return (err && err.message ? err.message.split('\n')[0] : String(err)) || 'failed';
  }

  // ------------------------------------------------------------------ rendering (throttled)

  let renderTimer = null;
  const dirty = new Set();

  function schedule(entry) {
    if (entry) dirty.add(entry);
    if (renderTimer !== null) return;
    renderTimer = setTimeout(() => {
      renderTimer = null;
      for (const e of dirty) renderEntry(e);
      dirty.clear();
      renderSummary();
    }, RENDER_MS);
  }

  function rate(entry) {
    const s = entry.samples;
    if (s.length < 2) return 0;
    const first = s[0];
    const last = s[s.length - 1];
    const dt = (last.t - first.t) / 1000;
    return dt > 0.2 ? (last.bytes - first.bytes) / dt : 0;
  }

  const STATE_LABEL = {
    queued: 'Waiting',
    starting: 'Starting…',
    uploading: 'Uploading',
    paused: 'Paused',
    done: 'Done',
    error: 'Failed',
    canceling: 'Canceling…',
  };

  function renderEntry(e) {
    const percent = pct(e.sent, e.total);
    e.node.dataset.state = e.state;
    e.node.dataset.percent = String(percent);
    e.ui.bar.value = percent;
    e.ui.bar.setAttribute('aria-valuetext', `${percent}%`);
    let parts = [STATE_LABEL[e.state], `${percent}%`, `${formatBytes(e.sent)} of ${formatBytes(e.total)}`];
    if (e.state === 'uploading') {
      const r = rate(e);
      if (r > 0) parts.push(`${formatBytes(r)}/s`, `${formatDuration((e.total - e.sent) / r)} left`);
    } else if (e.state === 'error') {
      parts = [`Failed: ${e.error}`];
    }
    // one span per part, so narrow screens wrap between parts, never inside one
    e.ui.stats.replaceChildren(...parts.map((text) => el('span', { text })));
    e.ui.note.textContent = e.note || '';
    e.ui.note.hidden = !e.note;
    const paused = e.state === 'paused' || e.state === 'error';
    e.ui.pause.hidden = paused || e.state === 'done';
    e.ui.resume.hidden = !paused;
    e.ui.resume.textContent = e.state === 'error' ? 'Retry' : 'Resume';
    e.ui.cancel.hidden = e.state === 'done';
    e.ui.pause.disabled = e.state === 'canceling';
    e.ui.cancel.disabled = e.state === 'canceling';
  }

  function renderSummary() {
    const live = entries.filter((e) => e.state !== 'done');
    const total = live.reduce((a, e) => a + e.total, 0);
    const sent = live.reduce((a, e) => a + e.sent, 0);
    const uploading = live.filter((e) => e.state === 'uploading' || e.state === 'starting');
    const r = uploading.reduce((a, e) => a + rate(e), 0);
    let text = 'No uploads in progress.';
    if (live.length) {
      text = `${live.length} file${live.length > 1 ? 's' : ''} · ${pct(sent, total)}% of ${formatBytes(total)}`;
      if (r > 0) text += ` · ${formatBytes(r)}/s · ${formatDuration((total - sent) / r)} left`;
    }
    $('summary').textContent = text;
    $('pause-all').disabled = !live.some((e) => ['queued', 'starting', 'uploading'].includes(e.state));
    $('resume-all').disabled = !live.some((e) => e.state === 'paused' || e.state === 'error');
    $('cancel-all').disabled = !live.some((e) => e.state !== 'canceling');
  }

  // ------------------------------------------------------------------ file uploads

  function direct() {
    return config.mode === 'direct' && Boolean(window.S3StreamDirect);
  }

  function addFiles(files) {
    if (!direct() && (!config.tusClient || typeof window.tus === 'undefined')) {
      showBanner('tus-js-client is missing, so nothing can be uploaded: run scripts/setup.sh (npm ci) on the server.');
      return;
    }
    for (const file of files) addFile(file);
    pump();
    schedule(null);
  }

  function addFile(file) {
    const id = nextId++;
    const bar = el('progress', { max: 100, value: 0, 'aria-label': `Progress of ${file.name}` });
    const stats = el('span', { class: 'stats' });
    const note = el('span', { class: 'note', hidden: true });
    const pause = el('button', { type: 'button', class: 'small', 'aria-label': `Pause ${file.name}`, text: 'Pause' });
    const resume = el('button', { type: 'button', class: 'small', 'aria-label': `Resume ${file.name}`, text: 'Resume', hidden: true });
    const cancel = el('button', { type: 'button', class: 'small danger', 'aria-label': `Cancel ${file.name}`, text: 'Cancel' });
    const node = el('li', { class: 'item', 'data-name': file.name, 'data-entry': id },
      el('div', { class: 'item-head' },
        el('span', { class: 'name', title: file.name, text: file.name }),
        el('span', { class: 'size', text: formatBytes(file.size) })),
      bar,
      el('div', { class: 'item-foot' },
        el('span', { class: 'info' }, stats, note),
        el('span', { class: 'actions' }, pause, resume, cancel)));
    const entry = {
      id, file, node, ui: { bar, stats, note, pause, resume, cancel },
      state: 'queued', sent: 0, total: file.size, samples: [], note: '', error: '',
      upload: null, resumeOffset: null,
    };
    pause.addEventListener('click', () => pauseEntry(entry));
    resume.addEventListener('click', () => resumeEntry(entry));
    cancel.addEventListener('click', () => cancelEntry(entry));
    entries.push(entry);
    $('queue').append(node);
    renderEntry(entry);
  }

  function pump() {
    let active = entries.filter((e) => e.state === 'starting' || e.state === 'uploading').length;
    for (const e of entries) {
      if (active >= MAX_ACTIVE) break;
      if (e.state === 'queued') {
        active += 1;
        startEntry(e);
      }
    }
  }

  function chunkSize() {
    const fromUrl = Number(params.get('chunkSize'));
    if (fromUrl > 0) return fromUrl;
    return config.chunkSize || Infinity;
  }

  function progressed(entry, sent, total) {
    entry.sent = sent;
    entry.total = total;
    const now = performance.now();
    entry.samples.push({ t: now, bytes: sent });
    while (entry.samples.length > 2 && now - entry.samples[0].t > RATE_WINDOW_MS) entry.samples.shift();
    if (entry.state === 'starting') entry.state = 'uploading';
    schedule(entry);
  }

  function resumedAt(entry, offset) {
    entry.resumeOffset = offset;
    entry.node.dataset.resumeOffset = String(offset);
    if (offset > 0 && !entry.pausedHere) entry.note = `resumed at ${pct(offset, entry.total)}%`;
    entry.sent = Math.max(entry.sent, offset);
    schedule(entry);
  }

  function succeeded(entry) {
    entry.state = 'done';
    entry.sent = entry.total;
    schedule(entry);
    setTimeout(() => removeEntry(entry), 1500);
    pump();
  }

  function failed(entry, err) {
    if (entry.state === 'canceling') return;
    entry.state = 'error';
    entry.error = describeError(err);
    schedule(entry);
    pump();
  }

  function makeDirectUpload(entry) {
    const parallel = Number(params.get('parallel')) || config.direct.parallel;
    return new window.S3StreamDirect.DirectUpload(entry.file, {
      store: { ...config.direct, parallel },
      headers: authHeaders,
      onProgress: (sent, total) => progressed(entry, sent, total),
      onResume: (offset) => resumedAt(entry, offset),
      onSuccess(result) {
        succeeded(entry);
        rememberDirect(result, entry.file);
        refreshResumable();
      },
      onError: (err) => failed(entry, err),
    });
  }

  function makeUpload(entry) {
    const file = entry.file;
    if (direct()) return makeDirectUpload(entry);
    return new window.tus.Upload(file, {
      endpoint: new URL(config.endpoint, location.href).href,
      chunkSize: chunkSize(),
      retryDelays: RETRY_DELAYS,
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onBeforeRequest(req) {
        const t = token();
        if (t) req.setHeader('Authorization', `Bearer ${t}`);
      },
      onAfterResponse(req, res) {
        // the offset the server reports before we continue: "resumed at 63%"
        if (req.getMethod() === 'HEAD' && res.getStatus() === 200) {
          const offset = Number(res.getHeader('Upload-Offset'));
          if (Number.isFinite(offset)) resumedAt(entry, offset);
        }
      },
      onProgress: (sent, total) => progressed(entry, sent, total),
      onSuccess() {
        succeeded(entry);
        const uploadId = entry.upload.url.replace(/\/+$/, '').split('/').pop();
        rememberFinished(uploadId, entry.file.name);
      },
      onError: (err) => failed(entry, err),
    });
  }

  async function startEntry(entry) {
    entry.state = 'starting';
    entry.samples = [];
    schedule(entry);
    if (!entry.upload) {
      entry.upload = makeUpload(entry);
    }
    if (!direct() && entry.upload.url === null && !entry.searched) {
      entry.searched = true;
      try {
        const previous = await entry.upload.findPreviousUploads();
        if (previous.length) {
          previous.sort((a, b) => String(b.creationTime).localeCompare(String(a.creationTime)));
          entry.upload.resumeFromPreviousUpload(previous[0]);
          entry.note = 'resuming…';
        }
      } catch (err) {
        console.warn('cannot read previous uploads', err);
      }
    }
    if (entry.state !== 'starting') return;  // paused or canceled meanwhile
    entry.upload.start();
    refreshResumable();
  }

  function pauseEntry(entry) {
    if (entry.state === 'queued') {
      entry.state = 'paused';
    } else if (entry.state === 'starting' || entry.state === 'uploading') {
      entry.state = 'paused';
      entry.pausedHere = true;
      if (entry.upload) entry.upload.abort();
    } else {
      return;
    }
    schedule(entry);
    pump();
  }

  function resumeEntry(entry) {
    if (entry.state !== 'paused' && entry.state !== 'error') return;
    entry.state = 'queued';
    entry.error = '';
    schedule(entry);
    pump();
  }

  async function cancelEntry(entry) {
    if (entry.state === 'done' || entry.state === 'canceling') return;
    const wasRunning = entry.upload && entry.upload.url;
    entry.state = 'canceling';
    schedule(entry);
    try {
      if (entry.upload) await entry.upload.abort(Boolean(wasRunning));
    } catch (err) {
      console.warn('terminate failed', err);
    }
    removeEntry(entry);
    refreshResumable();
    pump();
  }

  function removeEntry(entry) {
    const i = entries.indexOf(entry);
    if (i >= 0) entries.splice(i, 1);
    dirty.delete(entry);
    entry.node.remove();
    schedule(null);
  }

  // ------------------------------------------------------------------ earlier, unfinished uploads

  async function refreshResumable() {
    let all = [];
    if (direct()) {
      all = window.S3StreamDirect.savedUploads().map((u) => ({
        metadata: { filename: u.name }, size: u.size,
        forget: () => window.S3StreamDirect.forget(u.storageKey),
      }));
    } else {
      if (!config.tusClient || typeof window.tus === 'undefined') return;
      try {
        all = await window.tus.defaultOptions.urlStorage.findAllUploads();
      } catch (err) {
        return;
      }
    }
    const running = new Set(entries.map((e) => e.file.name));
    const list = $('resumable-list');
    list.replaceChildren();
    const seen = new Set();
    for (const u of all) {
      const name = (u.metadata && u.metadata.filename) || 'unnamed';
      if (running.has(name) || seen.has(name)) continue;
      seen.add(name);
      const forget = el('button', {
        type: 'button', class: 'small ghost', text: 'Forget', 'aria-label': `Forget ${name}`,
        onclick: async () => {
          if (u.forget) u.forget();
          else await window.tus.defaultOptions.urlStorage.removeUpload(u.urlStorageKey);
          refreshResumable();
        },
      });
      list.append(el('li', {}, el('span', { class: 'name', text: name }),
        el('span', { class: 'size', text: formatBytes(u.size) }), forget));
    }
    $('resumable').hidden = seen.size === 0;
  }

  // ------------------------------------------------------------------ finished uploads

  function finishedList() {
    try {
      const list = JSON.parse(localStorage.getItem(FINISHED_KEY) || '[]');
      return Array.isArray(list) ? list : [];
    } catch (err) {
      return [];
    }
  }

  function saveFinished(list) {
    localStorage.setItem(FINISHED_KEY, JSON.stringify(list.slice(0, 50)));
  }

  function rememberFinished(id, name) {
    const list = finishedList().filter((f) => f.id !== id);
    list.unshift({ id, name });
    saveFinished(list);
    loadFinished(id, name, true);
  }

  function rememberDirect(result, file) {
    // a direct upload has no tus id: keep what the gateway answered (its link expires)
    const id = `direct:${result.key}`;
    const info = {
      key: result.key, size: file.size, filename: file.name, url: result.location,
      checksum: null, checksumAlgorithm: config.direct && config.direct.checksum
        ? `${config.direct.checksum.toUpperCase()} per part` : null,
    };
    const list = finishedList().filter((f) => f.id !== id);
    list.unshift({ id, name: file.name, info });
    saveFinished(list);
    renderFinished(id, file.name, info);
  }

  async function loadFinished(id, name, fresh) {
    let info = null;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const res = await fetch(`/api/uploads/${encodeURIComponent(id)}`, { headers: authHeaders() });
      if (res.ok) { info = await res.json(); break; }
      if (res.status === 404 && !fresh) {
        saveFinished(finishedList().filter((f) => f.id !== id));
        return;
      }
      if (res.status !== 409 && res.status < 500) break;
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
    }
    renderFinished(id, name, info);
  }

  function renderFinished(id, name, info) {
    const done = $('done');
    const old = done.querySelector(`[data-id="${CSS.escape(id)}"]`);
    const title = (info && info.filename) || name;
    const link = info && info.url
      ? el('a', { href: info.url, class: 'dl', download: title, text: 'Download', 'aria-label': `Download ${title}` })
      : el('span', { class: 'hint', text: info ? 'no link' : 'details unavailable' });
    const meta = el('dl', { class: 'meta' });
    if (info) {
      meta.append(el('dt', { text: 'Object' }), el('dd', {}, el('code', { text: info.key })));
      meta.append(el('dt', { text: info.checksumAlgorithm || 'Checksum' }),
        el('dd', {}, el('code', { class: 'checksum', text: info.checksum || (info.checksumAlgorithm ? 'verified by the store' : '—') })));
    }
    const node = el('li', { class: 'done-item', 'data-id': id, 'data-key': info ? info.key : '' },
      el('div', { class: 'done-head' },
        el('span', { class: 'name', title, text: title }),
        el('span', { class: 'size', text: info ? formatBytes(info.size) : '' }),
        link),
      meta);
    if (old) old.replaceWith(node); else done.prepend(node);
    $('done-empty').hidden = true;
    $('done-clear').disabled = false;
  }

  async function loadAllFinished() {
    const list = finishedList();
    $('done').replaceChildren();
    $('done-empty').hidden = list.length > 0;
    $('done-clear').disabled = list.length === 0;
    for (const f of list.slice().reverse()) {
      if (f.info) renderFinished(f.id, f.name, f.info);
      else await loadFinished(f.id, f.name, false);
    }
    if (!$('done').children.length) $('done-empty').hidden = false;
  }

  // ------------------------------------------------------------------ live recording
  // tus with a deferred length, PATCH by PATCH: every MediaRecorder chunk is sent as soon as
  // it arrives (chunks that arrive while a PATCH is in flight go together in the next one);
  // the PATCH after the recorder stops declares Upload-Length and finishes the object.

  class LiveUpload {
    constructor(filename, filetype, onChange) {
      this.filename = filename;
      this.filetype = filetype;
      this.onChange = onChange;
      this.url = null;
      this.pending = new Blob([]);
      this.offset = 0;        // acknowledged by the server
      this.total = 0;         // recorded so far
      this.stopped = false;
      this.busy = false;
      this.failures = 0;
      this.error = null;
      this.done = new Promise((resolve, reject) => { this.resolve = resolve; this.reject = reject; });
    }

    headers(extra) {
      return { 'Tus-Resumable': '1.0.0', ...authHeaders(), ...extra };
    }

    push(blob) {
      if (!blob.size) return;
      this.pending = new Blob([this.pending, blob]);
      this.total += blob.size;
      this.kick();
    }

    finish() {
      this.stopped = true;
      this.kick();
      return this.done;
    }

    async create() {
      const meta = `filename ${btoa(unescape(encodeURIComponent(this.filename)))},filetype ${btoa(this.filetype)}`;
      const res = await fetch(config.endpoint, {
        method: 'POST',
        headers: this.headers({ 'Upload-Defer-Length': '1', 'Upload-Metadata': meta }),
      });
      if (res.status !== 201) throw new HttpError(res.status);
      this.url = res.headers.get('Location');
    }

    async resync() {
      const res = await fetch(this.url, { method: 'HEAD', headers: this.headers({}), cache: 'no-store' });
      if (res.status !== 200) throw new HttpError(res.status);
      const server = Number(res.headers.get('Upload-Offset'));
      if (server > this.offset) {
        this.pending = this.pending.slice(server - this.offset);
        this.offset = server;
      }
    }

    async kick() {
      if (this.busy || this.error) return;
      this.busy = true;
      try {
        for (;;) {
          if (!this.stopped && this.pending.size === 0) break;
          try {
            if (!this.url) await this.create();
            if (this.failures) await this.resync();
            const size = this.pending.size;
            const last = this.stopped;  // nothing is recorded after stop
            const extra = { 'Upload-Offset': String(this.offset), 'Content-Type': 'application/offset+octet-stream' };
            if (last) extra['Upload-Length'] = String(this.offset + size);
            const res = await fetch(this.url, {
              method: 'PATCH', headers: this.headers(extra), body: this.pending.slice(0, size),
            });
            if (res.status !== 204) throw new HttpError(res.status);
            const acked = Number(res.headers.get('Upload-Offset')) - this.offset;
            this.pending = this.pending.slice(acked);
            this.offset += acked;
            this.failures = 0;
            this.onChange();
            if (last && this.pending.size === 0) {
              this.resolve(this);
              break;
            }
          } catch (err) {
            const fatal = err instanceof HttpError && [400, 401, 403, 404, 410, 413].includes(err.status);
            this.failures += 1;
            if (fatal || this.failures > RETRY_DELAYS.length) {
              this.error = err;
              this.reject(err);
              this.onChange();
              break;
            }
            this.onChange();
            await new Promise((r) => setTimeout(r, RETRY_DELAYS[this.failures - 1] || 1000));
          }
        }
      } finally {
        this.busy = false;
      }
    }
  }

  class HttpError extends Error {
    constructor(status) {
      super(status === 401 ? 'the token was rejected (401)' : `the server answered ${status}`);
      this.status = status;
    }
  }

  const rec = { recorder: null, stream: null, live: null, started: 0, timer: null, kind: '' };

  function pickMime(hasAudio) {
    const choices = hasAudio
      ? ['video/webm;codecs=vp9,opus', 'video/webm;codecs=vp8,opus', 'video/webm']
      : ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'];
    return choices.find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t)) || '';
  }

  function recStatus() {
    const live = rec.live;
    if (!live) return;
    const secs = (performance.now() - rec.started) / 1000;
    let text;
    if (live.error) text = `Upload failed: ${live.error.message}`;
    else if (rec.recorder && rec.recorder.state === 'recording') {
      text = `● Recording ${formatDuration(secs)} · recorded ${formatBytes(live.total)} · uploaded ${formatBytes(live.offset)}`;
    } else text = `Finishing upload… ${formatBytes(live.offset)} of ${formatBytes(live.total)}`;
    if (live.failures && !live.error) text += ' · connection trouble, retrying';
    $('rec-status').textContent = text;
    $('rec-view').dataset.uploaded = String(live.offset);
    $('rec-view').dataset.state = rec.recorder && rec.recorder.state === 'recording' ? 'recording' : 'finishing';
  }

  async function startRecording(kind) {
    if (rec.recorder) return;
    if (!window.MediaRecorder) {
      showBanner('This browser cannot record video (no MediaRecorder).');
      return;
    }
    const audio = $('rec-audio').checked;
    let stream;
    try {
      if (kind === 'screen') {
        stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio });
      } else {
        try {
          stream = await navigator.mediaDevices.getUserMedia({ video: true, audio });
        } catch (err) {
          if (!audio) throw err;
          stream = await navigator.mediaDevices.getUserMedia({ video: true });
        }
      }
    } catch (err) {
      showBanner(`Cannot start the ${kind === 'screen' ? 'screen capture' : 'camera'}: ${err.message || err.name}`);
      return;
    }
    showBanner('');
    const mime = pickMime(stream.getAudioTracks().length > 0);
    const recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined);
    const stamp = new Date().toISOString().replace(/[:T]/g, '-').slice(0, 19);
    const live = new LiveUpload(`${kind}-${stamp}.webm`, 'video/webm', recStatus);
    Object.assign(rec, { recorder, stream, live, started: performance.now(), kind });
    recorder.addEventListener('dataavailable', (ev) => live.push(ev.data));
    recorder.addEventListener('stop', () => finishRecording());
    for (const track of stream.getVideoTracks()) {
      track.addEventListener('ended', () => stopRecording());  // "Stop sharing" in the browser
    }
    const preview = $('rec-preview');
    preview.srcObject = stream;
    $('rec-view').hidden = false;
    recorder.start(TIMESLICE_MS);
    rec.timer = setInterval(recStatus, 500);
    setRecButtons(true);
    recStatus();
    $('rec-stop').focus();
  }

  function stopRecording() {
    if (rec.recorder && rec.recorder.state !== 'inactive') rec.recorder.stop();
  }

  async function finishRecording() {
    const { live, stream } = rec;
    for (const track of stream.getTracks()) track.stop();
    $('rec-preview').srcObject = null;
    rec.recorder = null;
    recStatus();
    try {
      await live.finish();
      const id = live.url.replace(/\/+$/, '').split('/').pop();
      rememberFinished(id, live.filename);
      $('rec-status').textContent = `Saved ${live.filename} (${formatBytes(live.total)}).`;
    } catch (err) {
      $('rec-status').textContent = `Upload failed: ${err.message || err}`;
    } finally {
      clearInterval(rec.timer);
      $('rec-view').dataset.state = 'done';
      rec.live = null;
      setRecButtons(false);
    }
  }

  function setRecButtons(recording) {
    $('rec-camera').disabled = recording;
    $('rec-screen').disabled = recording;
    $('rec-audio').disabled = recording;
    $('rec-stop').disabled = !recording;
  }

  // ------------------------------------------------------------------ token

  function setupToken() {
    const input = $('token');
    input.value = token();
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      localStorage.setItem(TOKEN_KEY, input.value.trim());
      checkToken();
      loadAllFinished();
    });
    $('token-show').addEventListener('click', () => {
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      $('token-show').textContent = show ? 'Hide' : 'Show';
      $('token-show').setAttribute('aria-pressed', String(show));
      $('token-show').setAttribute('aria-label', show ? 'Hide token' : 'Show token');
    });
  }

  async function checkToken() {
    const status = $('token-status');
    if (!config.auth) {
      status.textContent = 'This server needs no token.';
      status.dataset.ok = 'true';
      return;
    }
    if (!token()) {
      status.textContent = 'This server needs an access token.';
      status.dataset.ok = 'false';
      return;
    }
    const res = await fetch('/api/session', { headers: authHeaders() });
    status.textContent = res.ok ? 'Token accepted.' : 'Token rejected: uploads will fail.';
    status.dataset.ok = String(res.ok);
  }

  // ------------------------------------------------------------------ start

  function setupDrop() {
    const drop = $('drop');
    const picker = $('picker');
    $('pick').addEventListener('click', () => picker.click());
    picker.addEventListener('change', () => {
      addFiles(Array.from(picker.files));
      picker.value = '';
    });
    let depth = 0;
    drop.addEventListener('dragenter', (ev) => { ev.preventDefault(); depth += 1; drop.dataset.active = 'true'; });
    drop.addEventListener('dragleave', () => { depth -= 1; if (depth <= 0) { depth = 0; drop.dataset.active = 'false'; } });
    drop.addEventListener('dragover', (ev) => { ev.preventDefault(); ev.dataTransfer.dropEffect = 'copy'; });
    drop.addEventListener('drop', (ev) => {
      ev.preventDefault();
      depth = 0;
      drop.dataset.active = 'false';
      addFiles(Array.from(ev.dataTransfer.files).filter((f) => f.size > 0 || f.type));
    });
    // a file dropped beside the zone must not navigate away from the page
    window.addEventListener('dragover', (ev) => ev.preventDefault());
    window.addEventListener('drop', (ev) => ev.preventDefault());
  }

  async function main() {
    try {
      const res = await fetch('/api/config', { cache: 'no-store' });
      Object.assign(config, await res.json());
    } catch (err) {
      showBanner('Cannot reach the upload server.');
    }
    setupToken();
    setupDrop();
    $('pause-all').addEventListener('click', () => entries.slice().forEach(pauseEntry));
    $('resume-all').addEventListener('click', () => entries.slice().forEach(resumeEntry));
    $('cancel-all').addEventListener('click', () => entries.slice().forEach(cancelEntry));
    $('done-clear').addEventListener('click', () => {
      saveFinished([]);
      $('done').replaceChildren();
      $('done-empty').hidden = false;
      $('done-clear').disabled = true;
    });
    $('rec-camera').addEventListener('click', () => startRecording('camera'));
    $('rec-screen').addEventListener('click', () => startRecording('screen'));
    $('rec-stop').addEventListener('click', stopRecording);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) $('rec-screen').hidden = true;
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      $('rec-camera').disabled = true;
      $('rec-screen').hidden = true;
    }
    document.body.dataset.mode = direct() ? 'direct' : 'tus';
    $('how').textContent = direct()
      ? 'Files go straight to the storage (presigned multipart, parts checked by the store); recordings through the tus protocol.'
      : 'Uploads go through the tus protocol (tus-js-client) to S3.';
    if (!direct() && (!config.tusClient || typeof window.tus === 'undefined')) {
      showBanner('tus-js-client is not installed on the server, so files cannot be uploaded: run scripts/setup.sh (npm ci), or point S3STREAM_TUS_JS at tus.min.js.');
      $('pick').disabled = true;
    }
    document.body.dataset.ready = 'true';
    await checkToken();
    refreshResumable();
    renderSummary();
    await loadAllFinished();
  }

  main();
})();
