// @tus/server with @tus/s3-store on an S3 endpoint: the peer the gateway benchmark compares
// against. Usage: node tus_node_server.mjs '<json {port, endpoint, bucket, region,
// accessKey, secretKey, partSize?}>'. Prints "ready <url>" once listening; SIGTERM stops it.
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
const server = new Server({ path: '/files', datastore, respectForwardedHeaders: false })
const http = server.listen({ host: '127.0.0.1', port: opts.port }, () => {
  console.log(`ready http://127.0.0.1:${opts.port}/files`)
})
process.on('SIGTERM', () => http.close(() => process.exit(0)))
