// @tus/server with @tus/s3-store on an S3 endpoint: the peer the gateway benchmark compares
// against. Usage: node tus_node_server.mjs '<json {port, endpoint, bucket, region,
// accessKey, secretKey, partSize?, tlsCert?, tlsKey?}>'. With tlsCert and tlsKey (PEM files)
// it serves HTTPS. An https endpoint's CA is trusted through NODE_EXTRA_CA_CERTS.
// Prints "ready <url>" once listening; SIGTERM stops it.
import fs from 'node:fs'
import https from 'node:https'
import { S3Store } from '@tus/s3-store'
import { Server } from '@tus/server'

const opts = JSON.parse(process.argv[2])
const datastore = new S3Store({
  partSize: opts.partSize ?? 8 * 1024 * 1024,
  useTags: false,
  s3ClientConfig: {
    bucket: opts.bucket,
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: opts.accessKey, secretAccessKey: opts.secretKey },
  },
})
const scheme = opts.tlsCert ? 'https' : 'http'
const server = new Server({
  path: '/files',
  datastore,
  respectForwardedHeaders: false,
  // @tus/server names its own scheme http unless a proxy header says otherwise
  generateUrl: (req, { host, path, id }) => `${scheme}://${host}${path}/${id}`,
})
const listening = () => console.log(`ready ${scheme}://127.0.0.1:${opts.port}/files`)
const http = opts.tlsCert
  ? https
      .createServer(
        { cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) },
        (req, res) => server.handle(req, res),
      )
      .listen({ host: '127.0.0.1', port: opts.port }, listening)
  : server.listen({ host: '127.0.0.1', port: opts.port }, listening)
process.on('SIGTERM', () => http.close(() => process.exit(0)))
