import { isDeepStrictEqual } from 'node:util'
import {
  Document,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  type Scalar,
  YAMLMap,
  YAMLSeq,
} from 'yaml'

// Writes an edited rule file so that what the edit did not touch stays byte for byte as the user
// wrote it. yaml's own toString keeps comments and key order but re-spaces everything (aligned
// trailing comments collapse, indentation is normalised), which turns `imgsync rule disable x` into
// a diff of the whole file. So: walk the edited document next to a fresh parse of the original
// text; an item whose rendering is unchanged is copied from the original lines, a changed block
// collection is reconciled item by item, anything else is rendered by yaml. The result must parse
// to the same data as the edited document, or we fall back to plain toString.

const STRINGIFY = { lineWidth: 0, minContentWidth: 0 } as const
/** Same options as the loader, so node ranges of both parses agree. */
export const PARSE_OPTIONS = { prettyErrors: false, merge: true, uniqueKeys: true } as const

type Item = Pair | Node
type Collection = YAMLMap | YAMLSeq

interface Context {
  lines: string[]
  lineCounter: LineCounter
  stringify: { lineWidth: number; minContentWidth: number; indent: number; indentSeq: boolean }
}

/** Text of an edited document; `original` is the text it was parsed from (undefined for a new file). */
export function renderRuleDocument(doc: Document, original?: string): string {
  const plain = () => doc.toString(STRINGIFY)
  if (original === undefined || original.includes('\r')) return plain()
  try {
    const text = preserve(doc, original)
    if (text !== undefined && sameData(text, doc)) return text
  } catch {
    // Keeping the layout is a nicety; a correct file is not. Anything unexpected: plain rendering.
  }
  return plain()
}

function preserve(doc: Document, original: string): string | undefined {
  const lineCounter = new LineCounter()
  const orig = parseDocument(original, { ...PARSE_OPTIONS, lineCounter })
  if (orig.errors.length > 0 || !isMap(orig.contents) || !isMap(doc.contents)) return undefined
  const lines = original.split('\n')
  const ctx: Context = {
    lines,
    lineCounter,
    stringify: { ...STRINGIFY, ...detectStyle(orig.contents, lines, lineCounter) },
  }
  const out = reconcile(ctx, orig.contents, doc.contents, 0, lines.length)
  return out?.join('\n')
}

/**
 * Lines for `next`, a collection whose original is `orig`, written on lines [start, end) of the original.
 * undefined when the layout is not one we can follow (flow style, odd indentation): the caller renders.
 */
function reconcile(
  ctx: Context,
  orig: Collection,
  next: Collection,
  start: number,
  end: number,
): string[] | undefined {
  const kind = isMap(orig) ? 'map' : 'seq'
  if (isMap(next) !== isMap(orig) || orig.flow || next.flow || orig.items.length === 0) return undefined
  const { lines } = ctx
  const layout = itemLayout(ctx, orig, kind, start, end)
  if (!layout) return undefined
  const { heads, headLines, indent, prefix, compact } = layout
  const { starts, ends, footer } = itemExtents(lines, headLines, indent, start, end)

  const out = lines.slice(start, starts[0])
  const used = new Set<number>()
  for (const [n, item] of (next.items as Item[]).entries()) {
    const offset = headOffset(item, kind)
    const k = offset === undefined ? -1 : heads.indexOf(offset)
    if (compact && n === 0 && k !== 0) return undefined
    if (k < 0 || used.has(k)) {
      out.push(...fresh(ctx, item, kind, indent, false, compact && n === 0 ? prefix : undefined))
      continue
    }
    used.add(k)
    const origItem = (orig.items as Item[])[k]!
    // An item that moves up to first place leaves the blank lines that separated it behind.
    let from = starts[k]!
    if (n === 0 && k > 0) while (from < headLines[k]! && lines[from]!.trim() === '') from++
    if (render(ctx, origItem, kind) === render(ctx, item, kind)) {
      out.push(...lines.slice(from, ends[k]))
      continue
    }
    out.push(...lines.slice(from, headLines[k]))
    const inner =
      (kind === 'map'
        ? spliceScalar(ctx, origItem as Pair, item as Pair, headLines[k]!, ends[k]!)
        : undefined) ?? reconcileItem(ctx, origItem, item, kind, headLines[k]!, ends[k]!)
    out.push(...(inner ?? fresh(ctx, item, kind, indent, true, compact && n === 0 ? prefix : undefined)))
  }
  out.push(...lines.slice(footer, end))
  return out
}

/**
 * Where the items of `orig` start (offsets and lines), their indent, and whether the collection is
 * a compact map after a dash; undefined when the layout is not one reconcile can follow.
 */
function itemLayout(ctx: Context, orig: Collection, kind: 'map' | 'seq', start: number, end: number) {
  const { lines } = ctx
  const heads: number[] = []
  const headLines: number[] = []
  for (const item of orig.items as Item[]) {
    const offset = headOffset(item, kind)
    if (offset === undefined) return undefined
    heads.push(offset)
    headLines.push(ctx.lineCounter.linePos(offset).line - 1)
  }
  const firstCol = ctx.lineCounter.linePos(heads[0]!).col - 1
  // A seq item's column is its dash; a map's first key may sit after a dash (`- name: x`).
  const indent = kind === 'seq' ? lines[headLines[0]!]!.lastIndexOf('-', firstCol - 1) : firstCol
  if (indent < 0) return undefined
  const prefix = lines[headLines[0]!]!.slice(0, indent)
  const compact = kind === 'map' && prefix.trim() !== ''
  if (compact && (!/^\s*-\s+$/.test(prefix) || headLines[0] !== start)) return undefined
  for (let k = 0; k < heads.length; k++) {
    const line = lines[headLines[k]!]!
    const col = ctx.lineCounter.linePos(heads[k]!).col - 1
    const expectedCol = kind === 'seq' ? indent + line.slice(indent + 1).search(/\S/) + 1 : indent
    if (headLines[k]! < start || headLines[k]! >= end || (k > 0 && headLines[k]! <= headLines[k - 1]!))
      return undefined
    if (col !== expectedCol || (kind === 'seq' && line[indent] !== '-')) return undefined
    if ((k > 0 || !compact) && line.slice(0, indent).trim() !== '') return undefined
  }
  return { heads, headLines, indent, prefix, compact }
}

/**
 * The lines each item owns. Comment and blank lines right above an item belong to it (as yaml
 * attaches them); those at the end of the collection are a footer that stays whatever happens to
 * the last item.
 */
function itemExtents(lines: string[], headLines: number[], indent: number, start: number, end: number) {
  const loose = (i: number) => {
    const text = lines[i]!
    const body = text.trimStart()
    return body === '' || (body.startsWith('#') && text.length - body.length <= indent)
  }
  const starts = headLines.map((head, k) => {
    let s = head
    // Above the first item only comment lines directly on top of it count; the rest is a header.
    if (k === 0) while (s > start && loose(s - 1) && lines[s - 1]!.trim() !== '') s--
    else while (s > headLines[k - 1]! + 1 && loose(s - 1)) s--
    return s
  })
  let footer = end
  while (footer > headLines[headLines.length - 1]! + 1 && loose(footer - 1)) footer--
  const ends = starts.map((_, k) => (k + 1 < starts.length ? starts[k + 1]! : footer))
  return { starts, ends, footer }
}

/** A changed item whose value is a block collection: keep its first line, reconcile the rest. */
function reconcileItem(ctx: Context, orig: Item, next: Item, kind: 'map' | 'seq', head: number, end: number) {
  if (kind === 'seq') {
    if (!isMap(orig) || !isMap(next)) return undefined
    return reconcile(ctx, orig, next, head, end)
  }
  const o = (orig as Pair).value
  const n = (next as Pair).value
  if (!(isMap(o) || isSeq(o)) || !(isMap(n) || isSeq(n)) || o.items.length === 0) return undefined
  const first = headOffset((o.items as Item[])[0]!, isMap(o) ? 'map' : 'seq')
  if (first === undefined || ctx.lineCounter.linePos(first).line - 1 <= head) return undefined
  const body = reconcile(ctx, o, n, head + 1, end)
  return body && [ctx.lines[head]!, ...body]
}

/**
 * `key: old   # comment` → `key: new   # comment` when only a one-line scalar value changed: the
 * comment keeps its column (as far as the new value leaves room).
 */
function spliceScalar(ctx: Context, orig: Pair, next: Pair, head: number, end: number): string[] | undefined {
  const o = orig.value
  const n = next.value
  if (!isScalar(o) || !isScalar(n) || !o.range) return undefined
  const probe = orig.clone()
  const probeValue = probe.value as Scalar
  probeValue.value = n.value
  probeValue.type = n.type
  if (render(ctx, probe, 'map') !== render(ctx, next, 'map')) return undefined
  const bare = n.clone()
  bare.comment = undefined
  bare.commentBefore = undefined
  bare.spaceBefore = undefined
  const text = new Document(bare).toString(ctx.stringify).replace(/\n$/, '')
  const from = ctx.lineCounter.linePos(o.range[0])
  const to = ctx.lineCounter.linePos(o.range[1])
  if (text.includes('\n') || from.line - 1 !== head || to.line - 1 !== head) return undefined
  const line = ctx.lines[head]!
  const before = line.slice(0, from.col - 1)
  const after = line.slice(to.col - 1)
  const rest = after.trimStart()
  let updated = before + text + after
  if (rest.startsWith('#')) {
    const gap = after.length - rest.length
    updated = before + text + ' '.repeat(Math.max(1, gap - (text.length - (to.col - from.col)))) + rest
  }
  return [updated, ...ctx.lines.slice(head + 1, end)]
}

/** Where an item starts: a map pair at its key, a seq item at its value. */
function headOffset(item: Item, kind: 'map' | 'seq'): number | undefined {
  const node = kind === 'map' ? (item as Pair).key : item
  return isNode(node) && node.range ? node.range[0] : undefined
}

/** The item rendered by yaml, indented to `indent`; `leadingCommentsKept` drops its own leading comment (the original lines are kept instead). */
function fresh(
  ctx: Context,
  item: Item,
  kind: 'map' | 'seq',
  indent: number,
  leadingCommentsKept: boolean,
  dashPrefix?: string,
): string[] {
  let copy = item
  if (leadingCommentsKept) {
    copy = item.clone() as Item
    const lead = kind === 'map' ? (copy as Pair).key : copy
    if (isNode(lead)) {
      lead.commentBefore = undefined
      lead.spaceBefore = undefined
    }
  }
  const pad = ' '.repeat(indent)
  const out = render(ctx, copy, kind)
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
  if (dashPrefix !== undefined && out.length > 0) out[0] = dashPrefix + out[0]!.slice(indent)
  return out
}

function render(ctx: Context, item: Item, kind: 'map' | 'seq'): string {
  const holder = new Document()
  const collection = kind === 'map' ? new YAMLMap() : new YAMLSeq()
  collection.items.push(item as never)
  holder.contents = collection as never
  return holder.toString(ctx.stringify)
}

/** Indent width and whether lists are indented under their key, as the user writes them. */
function detectStyle(
  root: YAMLMap,
  lines: string[],
  lineCounter: LineCounter,
): { indent: number; indentSeq: boolean } {
  let indent = 2
  let indentSeq = true
  for (const pair of root.items) {
    const value = pair.value
    if (!(isMap(value) || isSeq(value)) || value.flow || value.items.length === 0 || !isNode(pair.key))
      continue
    const keyCol = pair.key.range ? lineCounter.linePos(pair.key.range[0]).col - 1 : 0
    const first = headOffset((value.items as Item[])[0]!, isMap(value) ? 'map' : 'seq')
    if (first === undefined) continue
    const { line, col } = lineCounter.linePos(first)
    if (isSeq(value)) {
      const dash = lines[line - 1]!.lastIndexOf('-', col - 2)
      indentSeq = dash > keyCol
      indent = indentSeq ? dash - keyCol : col - 1 - dash
    } else indent = col - 1 - keyCol
    break
  }
  return { indent: Math.min(8, Math.max(2, indent)), indentSeq }
}

function sameData(text: string, doc: Document): boolean {
  const reparsed = parseDocument(text, PARSE_OPTIONS)
  return reparsed.errors.length === 0 && isDeepStrictEqual(reparsed.toJS(), doc.toJS())
}
