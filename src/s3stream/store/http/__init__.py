"""The native transport: S3 over the standard library's HTTP client, signed with SigV4.

botocore costs a quarter of a CPU-second to import and set up, more than a small upload
takes. When the configuration is plain (static credentials, a known endpoint) s3stream talks
to the store through this package instead: :mod:`.environment` reads the configuration,
:mod:`.sigv4` signs, :mod:`.connections` keeps connections alive, :mod:`.client` addresses
requests and reads refusals, and :mod:`.store` and :mod:`.objects` implement the two store
protocols. Anything else (roles, SSO, proxies, FIPS endpoints) goes through botocore
(:func:`s3stream.store.transport.open_store` decides).
"""
