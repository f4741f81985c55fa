/**
 * Runs the shared JWT-SVID case table inside workerd, so the verifier is proven on the runtime the edge
 * proxy uses, not only in Node. Answers with `[{case, code}]`.
 */
import { runSvidCases } from '../svid-attack-cases'

export default {
  async fetch(): Promise<Response> {
    return Response.json(await runSvidCases())
  },
}
