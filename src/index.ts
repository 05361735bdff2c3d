// Public library API: everything the CLI does is available here, typed.
// First: built-ins the dependencies need that older Nodes lack (see node-compat.ts).
import './node-compat.ts';
import { defaultRegistry } from './elements/index.ts';
import { addBranch as addGraphBranch, buildPipeline } from './core/graph.ts';
import { parseLaunch } from './core/launch.ts';
import { parseYaml } from './core/yamlspec.ts';
import type { Branch, PipelineOptions, Pipeline } from './core/pipeline.ts';
import type { Registry } from './core/registry.ts';
// DOT dumps and SLUICE_TRACE timelines for every pipeline made through the package.
import './trace/observe.ts';

export * from './core/element.ts';
export * from './core/frame.ts';
export * from './core/meta.ts';
/** Typed keys of the metadata built-in elements exchange (capture, analytics, embedding...). */
export * from './meta/keys.ts';
export * from './core/errors.ts';
export * from './core/views.ts';
export { Pipeline, ElementNode, Pad, addPipelineObserver, type Branch, type Probe, type ProbeResult, type PipelineReport, type PipelineOptions } from './core/pipeline.ts';
export { observe } from './trace/observe.ts';
export type { ElementReport, Verdict } from './core/stats.ts';
export { Bus, type BusMessage, type State, type StreamState, type StreamStateMessage } from './core/bus.ts';
export { Channel, type LeakyPolicy } from './core/channel.ts';
export { Registry } from './core/registry.ts';
export { p as props, propInfo, type PropInfo } from './core/props.ts';
export { parseLaunch } from './core/launch.ts';
export { parseYaml } from './core/yamlspec.ts';
export { buildPipeline, type GraphSpec } from './core/graph.ts';
export { defaultRegistry } from './elements/index.ts';
export { WebcamServer, StreamServer, type CameraFrame, type Peer, type ServerStats } from './net/servers.ts';
export type { RawImage } from './net/jpeg.ts';
export { invertFull } from './draw/invert.ts';
export { loadPlugin, loadPlugins } from './plugins.ts';
/** Clips from code (record's triggers) and the event schema (docs/events.md). */
export { triggerRecord, recorders, type Recorder, type RecordTrigger } from './elements/record.ts';
export { EVENTS_VERSION, EVENT_TYPES, EventDeriver, type SluiceEvent, type EventType } from './meta/events.ts';
/** Pixels access, frames, scaling and encoding for out-of-tree elements. */
export * as media from './media/index.ts';
/** zod, as the built-in elements use it for their property schemas. */
export { z } from 'zod';

let shared: Registry | null = null;
/** The registry of built-in elements (register custom elements on it). */
export function registry(): Registry {
  shared ??= defaultRegistry();
  return shared;
}

/** Build a pipeline from a launch string: `launch("testsrc num-frames=10 ! fakesink")`. */
export function launch(description: string, options: PipelineOptions = {}): Pipeline {
  return buildPipeline(parseLaunch(description), registry(), options);
}

/**
 * Add a branch to a playing pipeline made with `{ dynamic: true }`, in launch syntax, linked to
 * running elements by name: `addBranch(p, "uri location=cam2.mp4 ! m.", "cam2")`. Remove it with
 * `p.removeBranch(branch)`.
 */
export function addBranch(pipeline: Pipeline, description: string, label?: string): Promise<Branch> {
  return addGraphBranch(pipeline, parseLaunch(description), registry(), label);
}

/** Build a pipeline from YAML text (`file` is used in error messages). */
export function fromYaml(text: string, file = 'pipeline.yaml', options: PipelineOptions = {}): Pipeline {
  return buildPipeline(parseYaml(text, file, registry()), registry(), { description: file, ...options });
}
