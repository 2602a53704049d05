// Types of wsgateway.js (a plain script defining window.WsGateway; no module, no build step).

export interface WsGatewayOptions {
  /** Socket URL (the gateway's websocket_url). */
  websocketUrl: string;
  /** Where to POST for a one-time token; "" connects without one. */
  tokenUrl?: string;
  /** Channel to join (sent as ?channel=). */
  channel?: string | null;
  /** Custom API Gateway route: frames become {action: route, handler: name, ...payload}. */
  route?: string | null;
  tokenParam?: string;
  channelParam?: string;
  /** Seconds between heartbeats while open; must be below API Gateway's 600 s idle timeout. */
  heartbeatSeconds?: number;
  heartbeatMessage?: Record<string, unknown>;
  reconnect?: boolean;
  backoffBaseSeconds?: number;
  backoffMaxSeconds?: number;
  /** How many recent message ids are remembered to drop redeliveries. */
  dedupeSize?: number;
  csrfCookieName?: string;
  csrfHeaderName?: string;
  fetchOptions?: RequestInit | null;
  /** Frames send() keeps while the socket is (re)connecting; sent in order once open. */
  sendQueueSize?: number;
  /** Close cleanly when the page enters the back/forward cache; reconnect when it is shown again. */
  closeOnPageHide?: boolean;
  /** Resume every channel after a reconnect with the last recovery_id seen (docs/recovery.md). */
  recovery?: boolean;
  /** A channel whose replay has not arrived after this long gets a recoveryGap (reason "timeout"). */
  recoveryTimeoutSeconds?: number;
  onOpen?: (detail: { url: string; attempt: number; connections: number }) => void;
  onMessage?: (data: any) => void;
  onClose?: (detail: { code: number; reason: string; wasClean: boolean; willReconnect: boolean; delay?: number }) => void;
  onError?: (detail: { stage: "token" | "socket" | "send"; status?: number | null; message: string }) => void;
  onStatus?: (detail: { status: WsGatewayStatus }) => void;
  /** A channel's member list changed (a presence answer, member_added or member_removed). */
  onPresence?: (detail: WsGatewayPresenceChange) => void;
  onSubscribed?: (data: { type: "subscribed"; channel: string }) => void;
  onUnsubscribed?: (data: { type: "unsubscribed"; channel: string; subscribed: boolean }) => void;
  /** A channel's missed messages were delivered (count: how many were new). */
  onRecovered?: (detail: { channel: string; count: number }) => void;
  /** Some messages of a channel cannot be recovered: resynchronise from your own source. */
  onRecoveryGap?: (detail: WsGatewayRecoveryGap) => void;
}

/** A user present on a channel (connections: their sockets there, when the server said). */
export interface WsGatewayMember {
  user_id: number | string;
  name: string;
  connections?: number;
}

export interface WsGatewayPresenceChange {
  channel: string;
  /** The members as now known, sorted by name. */
  members: WsGatewayMember[];
  /** The message that changed it: {type: "presence" | "member_added" | "member_removed", ...}. */
  change: any;
}

export interface WsGatewayRecoveryGap {
  channel: string;
  /** The last recovery_id the client had (null: none yet). */
  since: string | null;
  reason: "window" | "forbidden" | "rate_limited" | "timeout";
  /** The channel's newest id when the server answered ("" when unknown): the new starting point. */
  latest: string;
}

export type WsGatewayStatus = "connecting" | "open" | "reconnecting" | "closed";

/** The context dict of WebSocketPageMixin ({{ websocket_config }}). */
export interface WsGatewayPageConfig {
  url: string;
  route: string;
  channel: string;
  token_url: string;
  token_param: string;
  channel_param: string;
}

export declare class WsGateway {
  constructor(options: WsGatewayOptions);
  static fromConfig(config: WsGatewayPageConfig, extra?: Partial<WsGatewayOptions>): WsGateway;
  /** Full-jitter delay in seconds: uniform in [0, min(maxSeconds, baseSeconds * 2^attempt)]. */
  static backoffDelay(attempt: number, baseSeconds: number, maxSeconds: number): number;
  readonly status: WsGatewayStatus;
  readonly connections: number;
  /** True while a reconnect timer is pending. */
  readonly reconnectPending: boolean;
  /** Frames waiting for the socket to open. */
  readonly queuedCount: number;
  /** The newest recovery_id delivered per channel (what the next resume asks after). */
  readonly lastIds: Record<string, string>;
  /** Channels whose replay is still awaited (their live messages are held back meanwhile). */
  readonly recovering: string[];
  /** Compares two recovery ids ("<ms>-<seq>") numerically: -1, 0 or 1. */
  static compareIds(a: string, b: string): number;
  connect(): Promise<WsGateway>;
  /** Sends {action, ...payload}, or queues it while (re)connecting; false when closed or the queue is full. */
  send(action: string, payload?: Record<string, unknown>): boolean;
  /** Subscribe to a channel now (or once open) and again after every reconnect. */
  subscribe(channel: string): boolean;
  /** Drop a subscription (the socket's own channel stays). */
  unsubscribe(channel: string): boolean;
  /** The channels subscribed to (besides the socket's own). */
  readonly subscriptions: string[];
  /** Ask who is on a channel (default: the socket's own); the answer fires "presence". */
  presence(channel?: string): boolean;
  /** A channel's members as last known, sorted by name. */
  members(channel: string): WsGatewayMember[];
  /** Closes for good (no reconnect until connect()). */
  close(code?: number, reason?: string): void;
  addEventListener(
    type: "open" | "message" | "close" | "error" | "status" | "presence" | "subscribed" | "unsubscribed" | "recovered" | "recoveryGap",
    listener: (event: CustomEvent) => void): void;
  removeEventListener(type: string, listener: (event: CustomEvent) => void): void;
}

declare global {
  interface Window {
    WsGateway: typeof WsGateway;
  }
}
