// Listings: one page (Page) and every page (walk, an async generator).
// Every list route answers { data, limit, next_cursor } (+ total when asked
// with total=true); next_cursor goes back as cursor for the next page, newest
// first. A server from before cursors answers { data, total, limit, offset }
// without next_cursor: walk then pages by offset while offset + rows < total,
// so iteration works against both.
import { SharkError } from './errors.js'
import type { RequestOptions, Surface, Transport } from './http.js'
import type { Page } from './types.js'

/** The server's largest page. */
export const MAX_PAGE = 1000

type Query = NonNullable<RequestOptions['query']>

/** The paging query: offset only when non-zero (a cursor with offset > 0 is refused). */
export function pageQuery(limit: number | undefined, cursor: string | undefined, offset: number | undefined, total: boolean | undefined): Query {
  return { limit, cursor: cursor || undefined, offset: offset || undefined, total: total ? 'true' : undefined }
}

/** The rows of a page: body[key], or body.data when the server names them so. */
export function rows(j: any, key = 'data'): any[] {
  const v = j?.[key] ?? j?.data
  return Array.isArray(v) ? v : []
}

export function nextCursor(j: any): string | null {
  return typeof j?.next_cursor === 'string' && j.next_cursor !== '' ? j.next_cursor : null
}

export function toPage<T>(j: any, convert: (row: any) => T, key = 'data'): Page<T> {
  const page: Page<T> = { data: rows(j, key).map(convert), nextCursor: nextCursor(j) }
  if (typeof j?.total === 'number') page.total = j.total
  return page
}

type Position = { cursor: string } | { offset: number }

/** Where the next page starts, or null on the last page. */
function after(j: any, n: number): Position | null {
  if (j && typeof j === 'object' && 'next_cursor' in j) {
    const c = nextCursor(j)
    return c === null ? null : { cursor: c }
  }
  if (n > 0 && typeof j?.total === 'number' && typeof j?.offset === 'number' && j.offset + n < j.total) {
    return { offset: j.offset + n }
  }
  return null
}

export interface WalkOptions {
  pageSize?: number | undefined
  surface?: Surface | undefined
  authorization?: string | undefined
  /** Where the rows are (default data). */
  key?: string | undefined
  /** Stop after this many rows. */
  maxRows?: number | undefined
}

/** Every row of a listing, converted, page by page; the first request goes when iteration starts. */
export async function* walk<T>(http: Transport, path: string, query: Query, convert: (row: any) => T, o: WalkOptions = {}): AsyncGenerator<T> {
  const pageSize = o.pageSize ?? 100
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE) {
    throw new RangeError(`pageSize must be an integer from 1 to ${MAX_PAGE}`)
  }
  let pos: Position | null = null
  let seen = 0
  for (;;) {
    const size = o.maxRows === undefined ? pageSize : Math.min(pageSize, o.maxRows - seen)
    if (size <= 0) return
    const at = pos
    const j = await http.call('GET', path, {
      query: { ...query, ...pageQuery(size, at && 'cursor' in at ? at.cursor : undefined, at && 'offset' in at ? at.offset : undefined, false) },
      surface: o.surface, authorization: o.authorization,
    })
    const page = rows(j, o.key)
    for (const r of page) yield convert(r)
    seen += page.length
    const next = after(j, page.length)
    if (next === null) return
    if (at !== null && 'cursor' in at && 'cursor' in next && at.cursor === next.cursor) {
      throw new SharkError('the server answered the same next_cursor twice; stopping')
    }
    pos = next
  }
}
