/**
 * <drillbook-map>: live facts about the lab's nodes. It polls the runner
 * with the map's id (the server runs the manifest's script on each node) at
 * the map's interval while the page is visible, and every second while a
 * drill on the same page runs, so the VIP can be seen moving.
 */
import { connectRunner, type RunnerConnection } from './runner-client.ts';

interface MapNode {
  host: string;
  address: string;
  reachable: boolean;
  facts: Record<string, string>;
  error?: string;
}

const DRILL_POLL_MS = 1000;
const STATE_TEXT: Record<string, string> = { active: 'active', inactive: 'inactive', failed: 'failed', activating: 'starting', deactivating: 'stopping', unknown: 'unknown' };

function pageParams(): Record<string, string> {
  const out: Record<string, string> = {};
  document.querySelectorAll<HTMLInputElement>('form.db-vars input[name]').forEach((i) => {
    if (i.value !== '') out[i.name] = i.value;
  });
  return out;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: { class?: string; text?: string; title?: string; data?: Record<string, string> } = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (props.class) e.className = props.class;
  if (props.text !== undefined) e.textContent = props.text;
  if (props.title) e.title = props.title;
  for (const [k, v] of Object.entries(props.data ?? {})) e.dataset[k] = v;
  e.append(...kids);
  return e;
}

/** Which colour a service state gets: active, failed, or neither. */
function serviceClass(state: string): 'active' | 'failed' | 'inactive' | 'other' {
  if (state === 'active') return 'active';
  if (state === 'failed') return 'failed';
  if (state === 'inactive' || state === 'dead' || state === '') return 'inactive';
  return 'other';
}

class DrillbookMap extends HTMLElement {
  private conn: RunnerConnection | null = null;
  private initialized = false;
  private timer?: ReturnType<typeof setTimeout>;
  private ticker?: ReturnType<typeof setInterval>;
  private inFlight = false;
  private drills = new Set<string>();
  private receivedAt = 0;
  private cards = new Map<string, { li: HTMLLIElement; sig: string }>();
  private holders = new Map<string, string>();
  private polled = false;

  private $<T extends HTMLElement>(sel: string): T {
    return this.querySelector(sel) as T;
  }

  private get intervalMs() {
    return Math.max(500, Number(this.dataset.intervalMs) || 2000);
  }

  connectedCallback() {
    if (this.initialized) return;
    this.initialized = true;
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.poll();
      else clearTimeout(this.timer);
    });
    document.addEventListener('drillbook:drill', (e) => {
      const { drill, running } = (e as CustomEvent<{ drill: string; running: boolean }>).detail;
      if (running) this.drills.add(drill);
      else this.drills.delete(drill);
      // Start the faster rhythm now rather than after the current wait.
      if (running && !this.inFlight) this.poll();
    });
    document.addEventListener('drillbook:params', () => {
      if (!this.inFlight) this.poll();
    });
    void this.attach();
  }

  private age(text: string, state: 'off' | 'ok' | 'stale' | 'busy' | 'bad') {
    const a = this.$('.db-map-age');
    a.textContent = text;
    a.dataset.state = state;
  }

  private async attach() {
    this.conn = await connectRunner();
    if (!this.conn) return this.age('Runner not connected', 'off');
    this.conn.onClose(() => {
      this.conn = null;
      clearTimeout(this.timer);
      clearInterval(this.ticker);
      this.age('Runner disconnected', 'off');
      this.dataset.state = 'off';
    });
    if (!this.conn.inventory) return this.age('No target inventory', 'off');
    this.placeholders();
    this.age('reading…', 'busy');
    this.ticker = setInterval(() => this.tick(), 1000);
    this.poll();
  }

  /** Cards for the hosts the map targets, before the first answer. */
  private placeholders() {
    const inv = this.conn?.inventory;
    if (!inv) return;
    const names = new Set<string>();
    for (const part of (this.dataset.on ?? 'all').split(',').map((s) => s.trim())) {
      if (part === 'all') inv.hosts.forEach((x) => names.add(x.name));
      else if (inv.groups[part]) inv.groups[part].forEach((n) => names.add(n));
      else if (inv.hosts.some((x) => x.name === part)) names.add(part);
    }
    const nodes = inv.hosts.filter((x) => names.has(x.name)).map((x) => ({ host: x.name, address: x.address, reachable: true, facts: {}, pending: true }));
    if (nodes.length) this.render(nodes);
  }

  private poll() {
    clearTimeout(this.timer);
    if (!this.conn?.inventory || this.inFlight || document.visibilityState !== 'visible') return;
    this.inFlight = true;
    const id = this.conn.send({ type: 'map-poll', map: this.dataset.map, hash: this.dataset.hash, params: pageParams() }, (msg) => {
      this.conn?.off(id);
      this.inFlight = false;
      const err = this.$('.db-map-error');
      if (msg.type === 'map') {
        this.receivedAt = performance.now();
        this.polled = true;
        err.hidden = true;
        this.render(msg.nodes);
        this.tick();
      } else if (msg.type === 'error') {
        err.hidden = false;
        err.textContent = `Could not read the map: ${msg.error.message}${msg.error.hint ? ` (${msg.error.hint})` : ''}`;
        this.age(this.polled ? 'not updated' : 'no data', 'bad');
      }
      if (this.conn && document.visibilityState === 'visible') this.timer = setTimeout(() => this.poll(), this.drills.size ? DRILL_POLL_MS : this.intervalMs);
    });
  }

  private tick() {
    if (!this.polled || !this.conn) return;
    const s = Math.floor((performance.now() - this.receivedAt) / 1000);
    const stale = performance.now() - this.receivedAt > 3 * (this.drills.size ? DRILL_POLL_MS : this.intervalMs) + 2000;
    this.age(`${this.drills.size ? 'drill running · ' : ''}updated ${s < 1 ? 'just now' : `${s} s ago`}`, stale ? 'stale' : 'ok');
  }

  private render(nodes: (MapNode & { pending?: boolean })[]) {
    const ul = this.$<HTMLUListElement>('.db-map-nodes');
    ul.hidden = false;
    this.dataset.state = 'live';
    const seen = new Set<string>();
    const vipNow = new Map<string, string>();
    nodes.forEach((n, i) => {
      seen.add(n.host);
      if (n.reachable && n.facts.vip) for (const v of n.facts.vip.split(/[\s,]+/).filter(Boolean)) vipNow.set(v, n.host);
      const sig = JSON.stringify([n.address, n.reachable, n.facts, n.error, n.pending]);
      let card = this.cards.get(n.host);
      if (!card) {
        card = { li: document.createElement('li'), sig: '' };
        card.li.className = 'db-map-node';
        this.cards.set(n.host, card);
      }
      if (ul.children[i] !== card.li) ul.insertBefore(card.li, ul.children[i] ?? null);
      if (card.sig === sig) return;
      const changed = card.sig !== '' && !n.pending && !JSON.parse(card.sig)[4];
      card.sig = sig;
      this.fill(card.li, n);
      if (changed) {
        card.li.classList.remove('db-map-changed');
        void card.li.offsetWidth; // restart the highlight
        card.li.classList.add('db-map-changed');
      }
    });
    for (const [host, card] of this.cards) {
      if (seen.has(host)) continue;
      card.li.remove();
      this.cards.delete(host);
    }
    // Say when a VIP moves (screen readers hear it; everyone sees the badge move).
    if (!nodes.some((n) => n.pending)) {
      const news: string[] = [];
      for (const [vip, host] of vipNow) {
        const before = this.holders.get(vip);
        if (before && before !== host) news.push(`VIP ${vip} moved from ${before} to ${host}.`);
      }
      for (const [vip, before] of this.holders) if (!vipNow.has(vip)) news.push(`No node holds VIP ${vip} (last on ${before}).`);
      this.holders = vipNow;
      if (news.length) this.$('.db-map-news').textContent = news.join(' ');
    }
  }

  private fill(li: HTMLLIElement, n: MapNode & { pending?: boolean }) {
    li.dataset.host = n.host;
    li.dataset.reachable = n.reachable ? 'true' : 'false';
    li.dataset.pending = n.pending ? 'true' : 'false';
    const vip = n.reachable ? n.facts.vip : undefined;
    if (vip) li.dataset.vip = vip;
    else delete li.dataset.vip;
    const head = h('div', { class: 'db-map-name' }, h('strong', { text: n.host }));
    if (vip) head.append(h('span', { class: 'db-map-vip', text: `VIP ${vip}`, title: `${n.host} holds the virtual IP ${vip}` }));
    const kids: Node[] = [head, h('div', { class: 'db-map-addr', text: n.address })];
    if (n.pending) kids.push(h('p', { class: 'db-map-wait', text: 'reading…' }));
    else if (!n.reachable) {
      kids.push(h('p', { class: 'db-map-down', text: 'unreachable', title: n.error ?? '' }));
      if (n.error) kids.push(h('p', { class: 'db-map-why', text: n.error }));
    } else {
      const services = Object.entries(n.facts).filter(([k]) => k.startsWith('service.'));
      const others = Object.entries(n.facts).filter(([k]) => k !== 'vip' && !k.startsWith('service.'));
      if (services.length) {
        const ul = h('ul', { class: 'db-map-services' });
        ul.setAttribute('aria-label', `Services on ${n.host}`);
        for (const [k, state] of services) {
          const name = k.slice('service.'.length);
          ul.append(
            h(
              'li',
              { data: { service: name, state: serviceClass(state) } },
              h('span', { class: 'db-dot' }),
              h('span', { class: 'db-map-svc', text: name }),
              ' ',
              h('span', { class: 'db-map-state', text: STATE_TEXT[state] ?? (state || 'unknown') }),
            ),
          );
        }
        kids.push(ul);
      }
      if (others.length) {
        const dl = h('dl', { class: 'db-map-facts' });
        for (const [k, v] of others) dl.append(h('div', { data: { fact: k } }, h('dt', { text: k }), h('dd', { text: v })));
        kids.push(dl);
      }
      if (!services.length && !others.length && !vip) kids.push(h('p', { class: 'db-map-wait', text: 'no facts reported' }));
    }
    li.replaceChildren(...kids);
  }
}

if (!customElements.get('drillbook-map')) customElements.define('drillbook-map', DrillbookMap);
