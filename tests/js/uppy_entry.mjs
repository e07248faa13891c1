// Uppy 6 for the browser tests: bundled by esbuild at test time (never committed), exposed as
// window.UppyKit = {Uppy, Tus, AwsS3}.
import Uppy from '@uppy/core'
import Tus from '@uppy/tus'
import AwsS3 from '@uppy/aws-s3'

window.UppyKit = { Uppy, Tus, AwsS3 }
