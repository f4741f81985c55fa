import { chooseWeighted } from '../../../mesh/src/policy/index'
import type { LoadBalancer } from './load-balancer'

/** Random by endpoint weight (uniform when every weight is 0). O(n). */
export const randomChoice: LoadBalancer = {
  type: 'Random',
  pick(set, ctx) {
    const list = set.list
    return chooseWeighted(list, ctx.random) ?? list[Math.min(list.length - 1, Math.floor(ctx.random() * list.length))]!
  },
}
