// Upload a file with tus-js-client (Node), as a browser app would; driven by pytest.
// Usage: node tus_upload.mjs '<json options>'
//   {endpoint, file, chunkSize?, parallelUploads?, deferred?, token?, uploadUrl?,
//    killAfter?, metadata?}
// Prints one JSON line {"url": ..., "seconds": ...} on success. With killAfter it SIGKILLs itself once that
// many bytes were sent (a crashed client); with uploadUrl it resumes that upload.
import fs from 'node:fs'
import { PassThrough } from 'node:stream'
import * as tus from 'tus-js-client'

const opts = JSON.parse(process.argv[2])
let input = fs.createReadStream(opts.file)
if (opts.deferred) {
  // a plain stream (no path): its length is unknown until it ends
  input = fs.createReadStream(opts.file, { highWaterMark: 1 << 20 }).pipe(new PassThrough())
}
const headers = opts.token ? { Authorization: `Bearer ${opts.token}` } : {}
const upload = new tus.Upload(input, {
  endpoint: opts.endpoint,
  uploadUrl: opts.uploadUrl ?? null,
  chunkSize: opts.chunkSize ?? Infinity,
  parallelUploads: opts.parallelUploads ?? 1,
  uploadLengthDeferred: Boolean(opts.deferred),
  metadata: opts.metadata ?? { filename: 'upload.bin' },
  headers,
  retryDelays: [100, 500, 1000, 2000],
  removeFingerprintOnSuccess: true,
  onProgress(sent) {
    if (opts.killAfter && sent >= opts.killAfter) {
      process.stdout.write(JSON.stringify({ url: upload.url, killedAt: sent }) + '\n', () => {
        process.kill(process.pid, 'SIGKILL')
      })
    }
  },
  onError(error) {
    console.error(`upload failed: ${error}`)
    process.exit(1)
  },
  onSuccess() {
    const elapsed = (performance.now() - started) / 1000
    console.log(JSON.stringify({ url: upload.url, seconds: elapsed }))
  },
})
const started = performance.now()
upload.start()
