// Direct uploads for the s3stream page: a file goes straight to the store as a presigned
// multipart upload (the gateway's /s3/ API signs, the browser sends the bytes), with parts in
// parallel, each carrying the CRC the gateway asks for (the store verifies it), pause and
// resume, and resume after a reload: the upload's id is kept in localStorage under the
// file's fingerprint and its parts are read back from the store (ListParts).
// window.S3StreamDirect = { DirectUpload, crcBase64, savedUploads, forget }.
'use strict';

(() => {
  const KEY_PREFIX = 's3stream-direct::';
  const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];

  // ------------------------------------------------------------------ CRCs (reflected, table-driven)

  function table32(poly) {
    const t = new Uint32Array(256);
    for (let i = 0; i < 256; i += 1) {
      let c = i;
      for (let k = 0; k < 8; k += 1) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
      t[i] = c >>> 0;
    }
    return t;
  }

  function table64(polyHi, polyLo) {
    const hi = new Uint32Array(256);
    const lo = new Uint32Array(256);
    for (let i = 0; i < 256; i += 1) {
      let h = 0;
      let l = i;
      for (let k = 0; k < 8; k += 1) {
        const odd = l & 1;
        l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
        h >>>= 1;
        if (odd) { h = (h ^ polyHi) >>> 0; l = (l ^ polyLo) >>> 0; }
      }
      hi[i] = h;
      lo[i] = l;
    }
    return { hi, lo };
  }

  const TABLES = {
    crc32: () => table32(0xEDB88320),
    crc32c: () => table32(0x82F63B78),
    crc64nvme: () => table64(0x9A6C9329, 0xAC4BC9B5),
  };
  const built = {};

  function tableFor(name) {
    if (!built[name]) built[name] = TABLES[name]();
    return built[name];
  }

  function crc32(bytes, t) {
    let c = 0xFFFFFFFF;
    for (let i = 0; i < bytes.length; i += 1) c = t[(c ^ bytes[i]) & 0xFF] ^ (c >>> 8);
    c = (c ^ 0xFFFFFFFF) >>> 0;
    return [c >>> 24, (c >>> 16) & 0xFF, (c >>> 8) & 0xFF, c & 0xFF];
  }

  function crc64(bytes, t) {
    let h = 0xFFFFFFFF;
    let l = 0xFFFFFFFF;
    for (let i = 0; i < bytes.length; i += 1) {
      const x = (l ^ bytes[i]) & 0xFF;
      l = (((l >>> 8) | (h << 24)) ^ t.lo[x]) >>> 0;
      h = ((h >>> 8) ^ t.hi[x]) >>> 0;
    }
    h = (h ^ 0xFFFFFFFF) >>> 0;
    l = (l ^ 0xFFFFFFFF) >>> 0;
    return [h >>> 24, (h >>> 16) & 0xFF, (h >>> 8) & 0xFF, h & 0xFF,
      l >>> 24, (l >>> 16) & 0xFF, (l >>> 8) & 0xFF, l & 0xFF];
  }

  /** The base64 big-endian CRC of `bytes` as S3 writes it (x-amz-checksum-<name>). */
  function crcBase64(name, bytes) {
    const raw = name === 'crc64nvme' ? crc64(bytes, tableFor(name)) : crc32(bytes, tableFor(name));
    return btoa(String.fromCharCode(...raw));
  }

  // ------------------------------------------------------------------ saved uploads

  function fingerprint(file) {
    return `${KEY_PREFIX}${file.name}::${file.type}::${file.size}::${file.lastModified}`;
  }

  function savedUploads() {
    const found = [];
    for (let i = 0; i < localStorage.length; i += 1) {
      const key = localStorage.key(i);
      if (!key || !key.startsWith(KEY_PREFIX)) continue;
      try {
        found.push({ storageKey: key, ...JSON.parse(localStorage.getItem(key)) });
      } catch (err) {
        localStorage.removeItem(key);
      }
    }
    return found;
  }

  function forget(storageKey) {
    localStorage.removeItem(storageKey);
  }

  // ------------------------------------------------------------------ the upload

  class HttpError extends Error {
    constructor(status, message) {
      super(message || `the server answered ${status}`);
      this.status = status;
    }
  }

  const sleep = (ms, signal) => new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(timer); reject(new DOMException('aborted', 'AbortError')); });
  });

  class DirectUpload {
    /**
     * options: {store: config.direct, headers(), onProgress(sent, total), onResume(offset),
     * onSuccess({key, location}), onError(err)}
     */
    constructor(file, options) {
      this.file = file;
      this.options = options;
      this.storageKey = fingerprint(file);
      this.state = null;      // {key, uploadId, partSize}
      this.etags = {};        // part number -> ETag
      this.sending = {};      // part number -> bytes sent so far
      this.url = null;        // the upload id once there is one (as tus-js-client's url)
      this.controller = null;
      this.xhrs = new Set();
    }

    async api(method, path, body) {
      const headers = { ...this.options.headers() };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: this.controller.signal, cache: 'no-store',
      });
      if (!res.ok) {
        let message = '';
        try { message = (await res.json()).error; } catch (err) { message = ''; }
        throw new HttpError(res.status, message && `${message} (${res.status})`);
      }
      return res.json();
    }

    multipartPath(suffix) {
      const { key, uploadId } = this.state;
      return `/s3/multipart/${encodeURIComponent(uploadId)}${suffix || ''}?key=${encodeURIComponent(key)}`;
    }

    get partCount() {
      return Math.max(1, Math.ceil(this.file.size / this.state.partSize));
    }

    partRange(n) {
      const start = (n - 1) * this.state.partSize;
      return [start, Math.min(this.file.size, start + this.state.partSize)];
    }

    sent() {
      let total = 0;
      for (const n of Object.keys(this.etags)) { const [a, b] = this.partRange(Number(n)); total += b - a; }
      for (const bytes of Object.values(this.sending)) total += bytes;
      return total;
    }

    progress() {
      this.options.onProgress(Math.min(this.sent(), this.file.size), this.file.size);
    }

    async start() {
      if (this.controller) this.controller.abort();
      this.controller = new AbortController();
      this.sending = {};
      try {
        if (this.file.size === 0) {
          await this.formUpload();
          return;
        }
        if (!this.state) {
          const saved = localStorage.getItem(this.storageKey);
          if (saved) this.state = JSON.parse(saved);
        }
        if (this.state) await this.resync();
        if (!this.state) await this.create();
        await this.sendParts();
        const parts = Object.entries(this.etags)
          .map(([n, etag]) => ({ PartNumber: Number(n), ETag: etag }))
          .sort((a, b) => a.PartNumber - b.PartNumber);
        const done = await this.api('POST', this.multipartPath('/complete'), { parts });
        forget(this.storageKey);
        this.options.onSuccess({ key: done.key, location: done.location });
      } catch (err) {
        if (this.controller.signal.aborted || (err && err.name === 'AbortError')) return;
        this.options.onError(err);
      }
    }

    async create() {
      const store = this.options.store;
      if (this.file.size > store.maxSize) throw new HttpError(413, 'the file is larger than this server allows (413)');
      const body = { filename: this.file.name, type: this.file.type || 'application/octet-stream', size: this.file.size };
      if (store.checksum) body.checksum = store.checksum;
      const created = await this.api('POST', '/s3/multipart', body);
      this.state = { key: created.key, uploadId: created.uploadId, partSize: created.partSize, checksum: created.checksum || null };
      this.url = created.uploadId;
      this.etags = {};
      localStorage.setItem(this.storageKey, JSON.stringify({ ...this.state, name: this.file.name, size: this.file.size }));
    }

    /** Which parts the store holds (ListParts, through the gateway); a gone upload starts over. */
    async resync() {
      let listed;
      try {
        listed = await this.api('GET', this.multipartPath());
      } catch (err) {
        if (err instanceof HttpError && err.status === 404) {
          forget(this.storageKey);
          this.state = null;
          return;
        }
        throw err;
      }
      this.url = this.state.uploadId;
      this.etags = {};
      for (const part of listed) {
        const [a, b] = this.partRange(part.PartNumber);
        if (part.PartNumber <= this.partCount && part.Size === b - a) this.etags[part.PartNumber] = part.ETag;
      }
      this.options.onResume(this.sent());
      this.progress();
    }

    async sendParts() {
      const pending = [];
      for (let n = 1; n <= this.partCount; n += 1) if (!this.etags[n]) pending.push(n);
      const workers = [];
      for (let w = 0; w < Math.min(this.options.store.parallel || 4, pending.length); w += 1) {
        workers.push((async () => {
          while (pending.length) await this.sendPart(pending.shift());
        })());
      }
      await Promise.all(workers);
    }

    async sendPart(n) {
      const [a, b] = this.partRange(n);
      const blob = this.file.slice(a, b);
      let checksum = null;
      if (this.state.checksum) {
        checksum = crcBase64(this.state.checksum, new Uint8Array(await blob.arrayBuffer()));
      }
      for (let attempt = 0; ; attempt += 1) {
        try {
          const query = checksum ? `&checksum=${encodeURIComponent(checksum)}` : '';
          const signed = await this.api('GET', this.multipartPath(`/${n}`) + query);
          this.etags[n] = await this.put(signed.url, signed.headers || {}, blob, n);
          delete this.sending[n];
          this.progress();
          return;
        } catch (err) {
          delete this.sending[n];
          const fatal = err instanceof HttpError && err.status >= 400 && err.status < 500 && ![403, 408, 429].includes(err.status);
          if (this.controller.signal.aborted || fatal || attempt >= RETRY_DELAYS.length) throw err;
          await sleep(RETRY_DELAYS[attempt], this.controller.signal);
        }
      }
    }

    put(url, headers, blob, n) {
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        this.xhrs.add(xhr);
        xhr.open('PUT', url);
        for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
        xhr.upload.onprogress = (ev) => { this.sending[n] = ev.loaded; this.progress(); };
        xhr.onload = () => {
          this.xhrs.delete(xhr);
          const etag = xhr.getResponseHeader('ETag');
          if (xhr.status >= 200 && xhr.status < 300 && etag) resolve(etag);
          else if (xhr.status >= 200 && xhr.status < 300) reject(new Error('the store hid the part\'s ETag: its CORS rule must expose ETag (s3stream cors)'));
          else reject(new HttpError(xhr.status, `the store refused part ${n} (${xhr.status})`));
        };
        xhr.onerror = () => { this.xhrs.delete(xhr); reject(new Error('cannot reach the store (network or CORS)')); };
        xhr.onabort = () => { this.xhrs.delete(xhr); reject(new DOMException('aborted', 'AbortError')); };
        xhr.send(blob);
      });
    }

    async formUpload() {
      const q = `filename=${encodeURIComponent(this.file.name)}&type=${encodeURIComponent(this.file.type || 'application/octet-stream')}`;
      const params = await this.api('GET', `/s3/params?${q}`);
      const form = new FormData();
      for (const [name, value] of Object.entries(params.fields)) form.set(name, value);
      form.set('file', this.file);
      const res = await fetch(params.url, { method: 'POST', body: form, signal: this.controller.signal });
      if (!res.ok) throw new HttpError(res.status, `the store refused the file (${res.status})`);
      this.options.onSuccess({ key: params.key, location: null });
    }

    /** Stop sending (pause); with `terminate`, abort the multipart upload too (cancel). */
    async abort(terminate) {
      if (this.controller) this.controller.abort();
      for (const xhr of this.xhrs) xhr.abort();
      if (terminate && this.state) {
        this.controller = new AbortController();
        try {
          await this.api('DELETE', this.multipartPath());
        } finally {
          forget(this.storageKey);
          this.state = null;
        }
      }
    }
  }

  window.S3StreamDirect = { DirectUpload, crcBase64, savedUploads, forget };
})();
