// What a registry request is for, from its method and path (OCI distribution API paths).

/** Every kind the link proxies count, in table order. */
export const KINDS = [
  'catalog',
  'tag list',
  'manifest HEAD',
  'manifest GET',
  'manifest PUT',
  'blob HEAD',
  'blob GET',
  'upload POST',
  'upload PATCH',
  'upload PUT',
  'referrers',
  'ping',
  'token',
  'other',
]

/**
 * 'manifest GET', 'blob HEAD', 'upload PATCH', 'tag list', 'catalog', 'referrers', 'ping' (GET /v2/),
 * 'token' (anything outside /v2/, where registries serve their token endpoint), or 'other'.
 */
export function requestKind(method, path) {
  if (path === '/v2/' || path === '/v2') return 'ping'
  if (!path.startsWith('/v2/')) return 'token'
  if (path === '/v2/_catalog') return 'catalog'
  if (/\/tags\/list$/.test(path)) return 'tag list'
  if (/\/referrers\/[^/]+$/.test(path)) return 'referrers'
  if (/\/blobs\/uploads\//.test(path))
    return ['POST', 'PATCH', 'PUT'].includes(method) ? `upload ${method}` : 'other'
  if (/\/manifests\/[^/]+$/.test(path))
    return ['HEAD', 'GET', 'PUT'].includes(method) ? `manifest ${method}` : 'other'
  if (/\/blobs\/[^/]+$/.test(path)) return ['HEAD', 'GET'].includes(method) ? `blob ${method}` : 'other'
  return 'other'
}
