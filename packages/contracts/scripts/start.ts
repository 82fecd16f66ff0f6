/** `npm start` until the devnet exists: a fresh anvil with every Regent contract deployed. */
import { startAnvil } from '../src/anvil.js'

const anvil = await startAnvil()
console.log(JSON.stringify({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }, null, 2))
await anvil.stop()
