/**
 * The Content-Security-Policy of the demo page: its two scripts (by nonce), inline styles, and connections
 * to the nodes only.
 */
export function demoPagePolicy(nodes: ReadonlyArray<{ url: string }>, nonce: string): string {
  const connect = nodes.flatMap(({ url }) => [url, url.replace(/^http/, 'ws')]).join(' ');
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    "style-src 'unsafe-inline'",
    `connect-src ${connect}`,
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The demo page: one pane per node; each pane is a real @microsoft/signalr client in the browser. */
export function demoPage(nodes: ReadonlyArray<{ nodeId: string; url: string }>, nonce: string): string {
  const names = ['ada', 'grace', 'linus', 'barbara', 'ken', 'margaret'];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>backplane demo</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f4f6fa; }
  body { margin: 0; padding: 24px; }
  h1 { margin: 0 0 4px; font-size: 22px; }
  p.lead { margin: 0 0 20px; color: #566; max-width: 900px; }
  .panes { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; }
  .pane { background: #fff; border-radius: 10px; box-shadow: 0 1px 3px #0002; padding: 14px; display: flex; flex-direction: column; gap: 8px; }
  .row { display: flex; gap: 6px; align-items: center; }
  .row > input, .row > select { flex: 1; min-width: 0; padding: 6px 8px; border: 1px solid #ccd; border-radius: 6px; }
  button { padding: 6px 10px; border: 0; border-radius: 6px; background: #3157d5; color: #fff; cursor: pointer; }
  button.secondary { background: #e3e8f5; color: #1d2330; }
  .status { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #eee; }
  .status.on { background: #d7f5dd; color: #176b2c; }
  .groups { font-size: 12px; color: #566; min-height: 16px; }
  ul.log { list-style: none; margin: 0; padding: 0; height: 260px; overflow: auto; border-top: 1px solid #eef; font-size: 13px; }
  ul.log li { padding: 4px 2px; border-bottom: 1px solid #f2f3f7; }
  .via { display: inline-block; font-size: 11px; padding: 1px 6px; margin-right: 6px; border-radius: 8px; color: #fff; }
  .id { font-family: ui-monospace, monospace; font-size: 11px; color: #889; overflow-wrap: anywhere; }
</style>
</head>
<body>
<h1>backplane demo</h1>
<p class="lead">${nodes.length} hub servers share one backplane. Each pane is a browser client of the official
<code>@microsoft/signalr</code> library, connected to the node you pick. Send to everyone, a group or a user:
every message is marked with the node that delivered it to that pane.</p>
<div class="panes" id="panes"></div>
<script nonce="${nonce}" src="/signalr.min.js"></script>
<script nonce="${nonce}">
const NODES = ${JSON.stringify(nodes)};
const NAMES = ${JSON.stringify(names)};
const COLORS = ['#3157d5', '#c2410c', '#0f766e', '#7c3aed', '#be185d', '#4d7c0f'];
const color = (nodeId) => COLORS[Math.max(0, NODES.findIndex((n) => n.nodeId === nodeId)) % COLORS.length];

function pane(index) {
  const el = document.createElement('section');
  el.className = 'pane';
  el.dataset.pane = String(index);
  el.innerHTML = \`
    <div class="row"><strong>Client \${index + 1}</strong><span class="status" data-role="status">offline</span></div>
    <div class="row"><label>node</label><select data-role="node">\${NODES.map((n, i) => \`<option value="\${i}">\${n.nodeId}</option>\`).join('')}</select>
      <label>user</label><input data-role="user" value="\${NAMES[index % NAMES.length]}"></div>
    <div class="row"><button data-role="connect">Connect</button><span class="id" data-role="id"></span></div>
    <div class="row"><input data-role="group" placeholder="group" value="room-1"><button class="secondary" data-role="join">Join</button><button class="secondary" data-role="leave">Leave</button></div>
    <div class="groups" data-role="groups"></div>
    <div class="row"><select data-role="target"><option value="all">to everyone</option><option value="group">to the group</option><option value="user">to user…</option><option value="others">to others</option></select>
      <input data-role="to" placeholder="user id (for 'to user')"></div>
    <div class="row"><input data-role="message" placeholder="message" value="hello from client \${index + 1}"><button data-role="send">Send</button></div>
    <ul class="log" data-role="log"></ul>\`;
  const $ = (role) => el.querySelector(\`[data-role="\${role}"]\`);
  $('node').value = String(index % NODES.length);
  const groups = new Set();
  let connection;
  let nodeId;

  function log(html) {
    const li = document.createElement('li');
    li.innerHTML = html;
    $('log').prepend(li);
  }
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

  async function connect() {
    if (connection) await connection.stop();
    const node = NODES[Number($('node').value)];
    nodeId = node.nodeId;
    groups.clear();
    $('groups').textContent = '';
    connection = new signalR.HubConnectionBuilder()
      .withUrl(\`\${node.url}/chat?user=\${encodeURIComponent($('user').value)}\`)
      .withAutomaticReconnect()
      .configureLogging(signalR.LogLevel.Warning)
      .build();
    connection.on('ReceiveMessage', (user, message) =>
      log(\`<span class="via" style="background:\${color(nodeId)}">via \${esc(nodeId)}</span><b>\${esc(user)}</b>: \${esc(message)}\`));
    connection.on('Ask', (question) => \`\${$('user').value} on \${nodeId} says: yes to "\${question}"\`);
    connection.onclose(() => { $('status').textContent = 'offline'; $('status').className = 'status'; });
    await connection.start();
    $('status').textContent = \`connected to \${nodeId}\`;
    $('status').className = 'status on';
    $('id').textContent = await connection.invoke('GetConnectionId');
    log(\`<i>connected to \${esc(nodeId)} as \${esc($('user').value)}</i>\`);
  }

  $('connect').onclick = () => connect().catch((e) => log(\`<i>connect failed: \${esc(e.message)}</i>\`));
  $('join').onclick = async () => {
    const g = $('group').value;
    await connection.invoke('JoinGroup', g);
    groups.add(g);
    $('groups').textContent = 'groups: ' + [...groups].join(', ');
  };
  $('leave').onclick = async () => {
    const g = $('group').value;
    await connection.invoke('LeaveGroup', g);
    groups.delete(g);
    $('groups').textContent = groups.size ? 'groups: ' + [...groups].join(', ') : '';
  };
  $('send').onclick = async () => {
    const user = $('user').value;
    const message = $('message').value;
    const target = $('target').value;
    if (target === 'all') await connection.invoke('SendMessage', user, message);
    else if (target === 'group') await connection.invoke('SendToGroup', $('group').value, user, message);
    else if (target === 'user') await connection.invoke('SendToUser', $('to').value, user, message);
    else await connection.invoke('SendToOthers', user, message);
  };
  return { el, connect };
}

const panes = NODES.map((_, i) => pane(i));
for (const p of panes) document.getElementById('panes').append(p.el);
Promise.all(panes.map((p) => p.connect())).then(() => { document.body.dataset.ready = 'true'; });
</script>
</body>
</html>
`;
}
