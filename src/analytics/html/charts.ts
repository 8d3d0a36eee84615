// The HTML reports' charts: Vega-Lite specifications compiled and rendered to static SVG in Node by
// the vega and vega-lite libraries (no chart code of our own, nothing to load when the page opens).
// Colour carries meaning (red: out of budget / too tight, blue: the suggestion, grey: the current
// limit, green: the acceptable band) and every meaning is also a dash pattern, a shape or a label,
// so the charts read in greyscale and on paper.
import type {TopLevelSpec} from 'vega-lite'

export const COLOURS = {spend: '#1f4e79', current: '#4d4d4d', suggested: '#2166ac', runOut: '#b2182b', band: '#1b7837', loop: '#b2182b', fanout: '#7b3294'}
const TIER_COLOURS = {domain: ['low', 'medium', 'high'], range: ['#1b7837', '#b35806', '#b2182b']}
const TIER_DASH = {domain: ['low', 'medium', 'high'], range: [[1, 0], [6, 3], [2, 2]]}
const TIER_SHAPE = {domain: ['low', 'medium', 'high'], range: ['circle', 'square', 'triangle-up']}

export interface Chart {
  id: string
  title: string
  /** What the chart shows, in words (the figure caption and the SVG's accessible description). */
  caption: string
  spec: TopLevelSpec
}

const WIDTH = 520
const base = (description: string) => ({$schema: 'https://vega.github.io/schema/vega-lite/v6.json', description, width: WIDTH, height: 200, background: 'white', config: {font: 'system-ui, sans-serif', axis: {labelFontSize: 11, titleFontSize: 12}, legend: {orient: 'bottom' as const}}})

/** Render one chart to an SVG document string (vega's own SVG renderer, headless). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')])
  // Warnings go nowhere: the CLI's stdout may be the report itself.
  const quiet = {level: () => quiet, error: (...a: unknown[]) => { throw new Error(`vega-lite: ${a.join(' ')}`) }, warn: () => quiet, info: () => quiet, debug: () => quiet}
  const view = new vega.View(vega.parse(vl.compile(spec, {logger: quiet as never}).spec), {renderer: 'none', logLevel: vega.Error})
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** Cumulative spend over the window, the current and suggested limit, and the day it ran out. */
export function spendChart(input: {id: string; scope: string; unit: string; points: Array<{day: string; cumulative: number}>; allocated: number | null; suggested: number | null; runsOutOn: string | null}): Chart {
  const limits = [
    ...(input.allocated !== null ? [{y: input.allocated, label: `current limit ${input.allocated.toLocaleString('en-US')}`, kind: 'current'}] : []),
    ...(input.suggested !== null ? [{y: input.suggested, label: `suggested ${input.suggested.toLocaleString('en-US')}`, kind: 'suggested'}] : []),
  ]
  const runOut = input.runsOutOn ? [{day: input.runsOutOn, label: `runs out ${input.runsOutOn}`}] : []
  const caption =
    `${input.scope} (${input.unit}): committed spend, running total per day` +
    (input.allocated !== null ? `, against the current limit (solid grey)` : '') +
    (input.suggested !== null ? ` and the suggested limit (dashed blue)` : '') +
    (input.runsOutOn ? `; it runs out on ${input.runsOutOn} (dotted red).` : input.allocated !== null ? '; it stays within the current limit.' : '.')
  const x = {field: 'day', type: 'temporal' as const, title: 'day (UTC)', axis: {format: '%b %d'}}
  const spec = {
    ...base(caption),
    layer: [
      {data: {values: input.points}, mark: {type: 'line' as const, point: true, color: COLOURS.spend}, encoding: {x, y: {field: 'cumulative', type: 'quantitative' as const, title: `spend (${input.unit})`}, tooltip: [{field: 'day'}, {field: 'cumulative', format: ','}]}},
      ...(limits.length > 0
        ? [
            {data: {values: limits}, mark: {type: 'rule' as const, strokeWidth: 2}, encoding: {y: {field: 'y', type: 'quantitative' as const}, color: {field: 'kind', type: 'nominal' as const, scale: {domain: ['current', 'suggested'], range: [COLOURS.current, COLOURS.suggested]}, legend: null}, strokeDash: {field: 'kind', type: 'nominal' as const, scale: {domain: ['current', 'suggested'], range: [[1, 0], [8, 4]]}, legend: null}}},
            // labels at opposite ends, so two close limits do not print over each other
            ...limits.map((l) => ({
              data: {values: [l]},
              mark: {type: 'text' as const, align: l.kind === 'current' ? ('left' as const) : ('right' as const), x: l.kind === 'current' ? 4 : WIDTH - 4, dy: l.kind === 'current' ? -6 : 10, fontSize: 11, color: l.kind === 'current' ? COLOURS.current : COLOURS.suggested},
              encoding: {y: {field: 'y', type: 'quantitative' as const}, text: {field: 'label'}},
            })),
          ]
        : []),
      ...(runOut.length > 0
        ? [
            {data: {values: runOut}, mark: {type: 'rule' as const, color: COLOURS.runOut, strokeDash: [2, 3], strokeWidth: 2}, encoding: {x: {field: 'day', type: 'temporal' as const}}},
            {data: {values: runOut}, mark: {type: 'text' as const, color: COLOURS.runOut, align: 'left' as const, dx: 4, y: 8, fontWeight: 'bold' as const}, encoding: {x: {field: 'day', type: 'temporal' as const}, text: {field: 'label'}}},
          ]
        : []),
    ],
  }
  return {id: input.id, title: `Spend: ${input.scope} (${input.unit})`, caption, spec: spec as TopLevelSpec}
}

/** The budget's replayed denial rate as a function of its limit, the target band, and the current and suggested limits. */
export function denialCurveChart(input: {id: string; scope: string; unit: string; points: Array<{limit: number; rate: number}>; current: number | null; suggested: number; band: [number, number]; target: number}): Chart {
  const maxLimit = Math.max(...input.points.map((p) => p.limit))
  const marks = [
    ...(input.current !== null && input.current <= maxLimit ? [{limit: input.current, label: `current ${input.current.toLocaleString('en-US')}`, kind: 'current'}] : []),
    {limit: input.suggested, label: `suggested ${input.suggested.toLocaleString('en-US')}`, kind: 'suggested'},
  ]
  const caption = `${input.scope} (${input.unit}): replayed would-deny rate at each limit (this budget alone, others unlimited); green band: the target ${pct(input.band[0])}–${pct(input.band[1])}; solid grey: current limit; dashed blue: suggested.`
  const spec = {
    ...base(caption),
    layer: [
      {data: {values: [{lo: input.band[0], hi: input.band[1]}]}, mark: {type: 'rect' as const, color: COLOURS.band, opacity: 0.15}, encoding: {y: {field: 'lo', type: 'quantitative' as const}, y2: {field: 'hi'}}},
      {data: {values: input.points}, mark: {type: 'line' as const, point: true, color: COLOURS.spend}, encoding: {x: {field: 'limit', type: 'quantitative' as const, title: `limit (${input.unit})`, axis: {format: '~s'}}, y: {field: 'rate', type: 'quantitative' as const, title: 'would-deny rate', axis: {format: '.0%'}}, tooltip: [{field: 'limit', format: ','}, {field: 'rate', format: '.2%'}]}},
      {data: {values: marks}, mark: {type: 'rule' as const, strokeWidth: 2}, encoding: {x: {field: 'limit', type: 'quantitative' as const}, color: {field: 'kind', type: 'nominal' as const, scale: {domain: ['current', 'suggested'], range: [COLOURS.current, COLOURS.suggested]}, legend: null}, strokeDash: {field: 'kind', type: 'nominal' as const, scale: {domain: ['current', 'suggested'], range: [[1, 0], [8, 4]]}, legend: null}}},
      {data: {values: marks}, mark: {type: 'text' as const, align: 'left' as const, dx: 4, angle: 0, fontSize: 11}, encoding: {x: {field: 'limit', type: 'quantitative' as const}, y: {value: 12}, yOffset: {field: 'kind', type: 'nominal' as const, scale: {domain: ['current', 'suggested'], range: [0, 14]}}, text: {field: 'label'}, color: {field: 'kind', type: 'nominal' as const, scale: {domain: ['current', 'suggested'], range: [COLOURS.current, COLOURS.suggested]}, legend: null}}},
    ],
  }
  return {id: input.id, title: `Denial rate against the limit: ${input.scope} (${input.unit})`, caption, spec: spec as TopLevelSpec}
}

/** Per tier, the daily would-deny rate (colour, dash and point shape per tier), with the band edges marked. */
export function tierChart(input: {id: string; tiers: Array<{tier: string; points: Array<{day: string; requests: number; would_deny_rate: number}>}>}): Chart {
  const values = input.tiers.flatMap((t) => t.points.filter((p) => p.requests > 0).map((p) => ({tier: t.tier, day: p.day, rate: p.would_deny_rate, requests: p.requests})))
  const edges = [
    {y: 0.01, label: '1 %: loose below'},
    {y: 0.03, label: '3 %: goldilocks up to'},
    {y: 0.05, label: '5 %: too tight above'},
  ]
  const caption = 'Per risk tier, the share of reservation attempts the shadow ledger would deny each day (low: solid circles, medium: dashed squares, high: dotted triangles); grey lines: the band edges.'
  const spec = {
    ...base(caption),
    layer: [
      {data: {values: edges}, mark: {type: 'rule' as const, color: '#999999', strokeDash: [3, 3]}, encoding: {y: {field: 'y', type: 'quantitative' as const}}},
      {data: {values: edges}, mark: {type: 'text' as const, align: 'right' as const, x: WIDTH, dy: -5, fontSize: 10, color: '#666666'}, encoding: {y: {field: 'y', type: 'quantitative' as const}, text: {field: 'label'}}},
      {
        data: {values},
        mark: {type: 'line' as const, point: true},
        encoding: {
          x: {field: 'day', type: 'temporal' as const, title: 'day (UTC)', axis: {format: '%b %d'}},
          y: {field: 'rate', type: 'quantitative' as const, title: 'would-deny rate', axis: {format: '.0%'}},
          color: {field: 'tier', type: 'nominal' as const, scale: TIER_COLOURS, title: 'tier'},
          strokeDash: {field: 'tier', type: 'nominal' as const, scale: TIER_DASH, title: 'tier'},
          shape: {field: 'tier', type: 'nominal' as const, scale: TIER_SHAPE, title: 'tier'},
          tooltip: [{field: 'tier'}, {field: 'day'}, {field: 'rate', format: '.2%'}, {field: 'requests', format: ','}],
        },
      },
    ],
  }
  return {id: input.id, title: 'Would-deny rate per tier, per day', caption, spec: spec as TopLevelSpec}
}

/** Estimate ÷ actual per action: daily lines (shadow report) or one point per action (calibrate), with the 0.8–1.2 band. */
export function estimateChart(input: {id: string; daily?: Array<{action: string; day: string; ratio: number}>; perAction?: Array<{action: string; ratio: number; commits: number}>; band: readonly [number, number]}): Chart {
  const bandLayer = {data: {values: [{lo: input.band[0], hi: input.band[1]}]}, mark: {type: 'rect' as const, color: COLOURS.band, opacity: 0.15}, encoding: {y: {field: 'lo', type: 'quantitative' as const}, y2: {field: 'hi'}}}
  const one = {data: {values: [{y: 1, label: 'estimate = actual'}]}, mark: {type: 'rule' as const, color: COLOURS.band, strokeDash: [4, 2]}, encoding: {y: {field: 'y', type: 'quantitative' as const}}}
  const y = {field: 'ratio', type: 'quantitative' as const, title: 'estimate ÷ actual', axis: {format: '.2f'}}
  const caption = input.daily
    ? `Estimate ÷ actual of committed reservations per action and day; the green band is ${input.band[0]}–${input.band[1]} (accurate). A line leaving the band shows estimates drifting.`
    : `Estimate ÷ actual per action (reserve:commit ratio); the green band is ${input.band[0]}–${input.band[1]}; points outside it need their estimates corrected (see the table).`
  const dataLayer = input.daily
    ? {data: {values: input.daily}, mark: {type: 'line' as const, point: true}, encoding: {x: {field: 'day', type: 'temporal' as const, title: 'day (UTC)', axis: {format: '%b %d'}}, y, color: {field: 'action', type: 'nominal' as const, title: 'action', legend: {columns: 1, labelLimit: 480}}, shape: {field: 'action', type: 'nominal' as const, title: 'action'}, tooltip: [{field: 'action'}, {field: 'day'}, {field: 'ratio', format: '.2f'}]}}
    : {data: {values: input.perAction ?? []}, mark: {type: 'point' as const, filled: true, size: 80, color: COLOURS.spend}, encoding: {y: {field: 'action', type: 'nominal' as const, title: null, sort: '-x' as const, axis: {labelLimit: 360}}, x: {...y}, tooltip: [{field: 'action'}, {field: 'ratio', format: '.2f'}, {field: 'commits', format: ','}]}}
  const bandLayers = input.daily
    ? [bandLayer, one]
    : [
        {data: {values: [{lo: input.band[0], hi: input.band[1]}]}, mark: {type: 'rect' as const, color: COLOURS.band, opacity: 0.15}, encoding: {x: {field: 'lo', type: 'quantitative' as const}, x2: {field: 'hi'}}},
        {data: {values: [{x: 1}]}, mark: {type: 'rule' as const, color: COLOURS.band, strokeDash: [4, 2]}, encoding: {x: {field: 'x', type: 'quantitative' as const}}},
      ]
  const spec = {...base(caption), ...(input.perAction ? {height: Math.max(60, 18 * (input.perAction.length || 1))} : {}), layer: [...bandLayers, dataLayer]}
  return {id: input.id, title: 'Estimate against actual per action', caption, spec: spec as TopLevelSpec}
}

/** Loop signatures and fan-out trees on one time axis, each a bar from first to last record, sized and labelled by cost. */
export function timelineChart(input: {id: string; items: Array<{label: string; kind: 'loop' | 'fan-out'; first: string; last: string; cost: number; unit: string | null}>}): Chart {
  const values = input.items.map((i) => ({...i, costLabel: `${i.cost.toLocaleString('en-US')}${i.unit ? ` ${i.unit}` : ''}`}))
  const caption = 'Loop signatures (red bars, ✖) and delegation fan-out trees (purple bars, ◆) over time, from each run’s first to last record; the label is the committed spend of the run or tree.'
  const kind = {field: 'kind', type: 'nominal' as const, scale: {domain: ['loop', 'fan-out'], range: [COLOURS.loop, COLOURS.fanout]}, title: 'kind'}
  const y = {field: 'label', type: 'nominal' as const, title: null, sort: {field: 'first'}, axis: {labelLimit: 320}}
  const spec = {
    ...base(caption),
    height: Math.max(60, 22 * Math.max(1, values.length)),
    data: {values},
    layer: [
      {mark: {type: 'bar' as const, height: 12}, encoding: {x: {field: 'first', type: 'temporal' as const, title: 'time (UTC)'}, x2: {field: 'last'}, y, color: kind, tooltip: [{field: 'label'}, {field: 'first'}, {field: 'last'}, {field: 'costLabel', title: 'cost'}]}},
      {mark: {type: 'point' as const, filled: true, size: 70}, encoding: {x: {field: 'first', type: 'temporal' as const}, y, color: kind, shape: {field: 'kind', type: 'nominal' as const, scale: {domain: ['loop', 'fan-out'], range: ['cross', 'diamond']}, title: 'kind'}}},
      {mark: {type: 'text' as const, align: 'left' as const, dx: 8, fontSize: 11}, encoding: {x: {field: 'last', type: 'temporal' as const}, y, text: {field: 'costLabel'}}},
    ],
  }
  return {id: input.id, title: 'Loops and fan-out over time, with their cost', caption, spec: spec as TopLevelSpec}
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`
