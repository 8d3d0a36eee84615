// A minimal, strict XML parser for the JUnit test: elements, attributes, text, the five predefined
// entities and numeric references. Throws on anything not well-formed.
export interface XmlElement {
  name: string
  attrs: Record<string, string>
  children: XmlElement[]
  text: string
}

const NAME = /^[A-Za-z_][\w.-]*/

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);|&/g, (m, ref: string | undefined) => {
    if (!ref) throw new Error('bare & in XML text')
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16))
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10))
    const named: Record<string, string> = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'"}
    if (!(ref in named)) throw new Error(`unknown entity &${ref};`)
    return named[ref]
  })
}

export function parseXml(input: string): XmlElement {
  let i = 0
  const s = input.replace(/^<\?xml[^?]*\?>\s*/, '')
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  while (i < s.length) {
    if (s.startsWith('</', i)) {
      const end = s.indexOf('>', i)
      const name = s.slice(i + 2, end).trim()
      const open = stack.pop()
      if (!open || open.name !== name) throw new Error(`mismatched </${name}> at ${i}`)
      i = end + 1
      continue
    }
    if (s[i] === '<') {
      i++
      const name = NAME.exec(s.slice(i))?.[0]
      if (!name) throw new Error(`bad tag name at ${i}`)
      i += name.length
      const el: XmlElement = {name, attrs: {}, children: [], text: ''}
      for (;;) {
        while (/\s/.test(s[i])) i++
        if (s.startsWith('/>', i) || s[i] === '>') break
        const attr = NAME.exec(s.slice(i))?.[0]
        if (!attr) throw new Error(`bad attribute at ${i}`)
        i += attr.length
        if (s[i] !== '=' || (s[i + 1] !== '"' && s[i + 1] !== "'")) throw new Error(`attribute ${attr} not quoted at ${i}`)
        const q = s[i + 1]
        const end = s.indexOf(q, i + 2)
        const value = s.slice(i + 2, end)
        if (value.includes('<')) throw new Error(`< in attribute ${attr}`)
        if (attr in el.attrs) throw new Error(`duplicate attribute ${attr}`)
        el.attrs[attr] = decode(value)
        i = end + 1
      }
      if (stack.length > 0) stack.at(-1)!.children.push(el)
      else if (root) throw new Error('more than one root element')
      else root = el
      if (s.startsWith('/>', i)) i += 2
      else {
        i++
        stack.push(el)
      }
      continue
    }
    const next = s.indexOf('<', i)
    const text = s.slice(i, next < 0 ? s.length : next)
    if (stack.length === 0) {
      if (text.trim() !== '') throw new Error('text outside the root element')
    } else stack.at(-1)!.text += decode(text)
    i = next < 0 ? s.length : next
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.at(-1)!.name}>`)
  if (!root) throw new Error('no root element')
  return root
}
