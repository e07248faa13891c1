// tus-js-client (Node) uploading one file with generous retries, reporting as it goes; used by
// tests/test_reliability_faults.py to crash the gateway under a running client.
// Usage: node tus_resilient.mjs '<json {endpoint, file, chunkSize?, retryDelays?, token?,
//                                       metadata?, uploadUrl?, debug?}>'
// retryDelays "default" keeps tus-js-client's own (0, 1, 3, 5 s).
// Prints NDJSON lines: {"url"} once the upload exists, {"progress": bytes} at most every
// 256 KiB, {"done": url} on success; {"error"} and exit status 1 on failure.
import fs from 'node:fs'
import * as tus from 'tus-js-client'

const opts = JSON.parse(process.argv[2])
if (opts.debug) tus.enableDebugLog()
const say = (obj, done) => process.stdout.write(JSON.stringify(obj) + '\n', done)
const size = fs.statSync(opts.file).size
let reported = -Infinity
// an option given as undefined would replace tus-js-client's default: leave it out instead
const retries =
  opts.retryDelays === 'default'
    ? {}
    : { retryDelays: opts.retryDelays ?? [200, 500, 1000, 1000, 2000, 2000, 3000, 3000, 5000, 5000] }
const upload = new tus.Upload(fs.createReadStream(opts.file), {
  endpoint: opts.endpoint,
  uploadUrl: opts.uploadUrl ?? null,
  uploadSize: size,
  chunkSize: opts.chunkSize ?? Infinity,
  metadata: opts.metadata ?? { filename: 'upload.bin' },
  headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
  ...retries,
  removeFingerprintOnSuccess: true,
  onUploadUrlAvailable() {
    say({ url: upload.url })
  },
  onProgress(sent) {
    if (sent - reported >= 256 * 1024 || sent === size) {
      reported = sent
      say({ progress: sent })
    }
  },
  // exit at once: a request answered early (a 503 before its body was read) can keep node's
  // event loop alive after the upload is done
  onError(error) {
    say({ error: String(error) }, () => process.exit(1))
  },
  onSuccess() {
    say({ done: upload.url }, () => process.exit(0))
  },
})
upload.start()
