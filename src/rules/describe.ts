import type { RegistryEntry, Rule, RuleFile } from './schema.js'

// What `rule list/show` may print: everything but credentials, which show only as configured.

export interface RegistryView {
  name: string
  host?: string
  ociLayout?: string
  credentials: 'configured' | 'none (docker config or anonymous)'
  /** file paths only (CA, client certificate and key), never their contents */
  tls?: RegistryEntry['tls']
  concurrency?: RegistryEntry['concurrency']
}

export interface RuleView {
  name: string
  description?: string
  enabled: boolean
  source: Rule['source'] & { host?: string }
  target: Rule['target'] & { host?: string }
  override: boolean
  referrers: boolean
  platforms?: string[]
  prune: boolean
  trigger: Rule['trigger']
}

export function describeRegistry(name: string, entry: RegistryEntry): RegistryView {
  const view: RegistryView = {
    name,
    credentials: entry.credentials ? 'configured' : 'none (docker config or anonymous)',
  }
  if (entry.host !== undefined) view.host = entry.host
  if (entry['oci-layout']) view.ociLayout = entry['oci-layout'].path
  if (entry.tls) view.tls = entry.tls
  if (entry.concurrency !== undefined) view.concurrency = entry.concurrency
  return view
}

export function describeRule(config: RuleFile, rule: Rule): RuleView {
  const host = (name: string) =>
    config.registries[name]?.host ?? config.registries[name]?.['oci-layout']?.path
  return {
    name: rule.name,
    ...(rule.description !== undefined && { description: rule.description }),
    enabled: rule.enabled,
    source: { ...rule.source, host: host(rule.source.registry) },
    target: { ...rule.target, host: host(rule.target.registry) },
    override: rule.override,
    referrers: rule.referrers,
    ...(rule.platforms !== undefined && { platforms: rule.platforms }),
    prune: rule.prune,
    trigger: rule.trigger,
  }
}

export function triggerText(t: Rule['trigger']): string {
  if (t.type !== 'schedule') return t.type
  return `schedule "${t.cron}"${t.timezone ? ` ${t.timezone}` : ''}`
}
