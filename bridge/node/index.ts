/** `edgesync/client/node`: the Node socket for the client (Node 20 has no global WebSocket). */
export { nodeSocket } from "./ws-socket.js";
