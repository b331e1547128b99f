import { describe, expect, it } from 'vitest'
import { ConnectionBudget } from '../src/connection-budget.js'

describe('ConnectionBudget', () => {
  it('gives each file up to its -x, at least one, and never more than the cap in total; waiters go in order', async () => {
    const budget = new ConnectionBudget(6)
    expect(await budget.acquire(4)).toBe(4)
    expect(await budget.acquire(4)).toBe(2)
    const order: string[] = []
    const third = budget.acquire(4).then((n) => order.push(`third ${n}`))
    const fourth = budget.acquire(1).then((n) => order.push(`fourth ${n}`))
    expect(budget.free).toBe(0)
    budget.release(2)
    await third
    expect(order).toEqual(['third 2'])
    budget.release(4)
    await fourth
    expect(order).toEqual(['third 2', 'fourth 1'])
    expect(budget.free).toBe(3)
  })

  it('an aborted wait rejects with HAUL_ABORTED and leaves the queue', async () => {
    const budget = new ConnectionBudget(1)
    await budget.acquire(1)
    const controller = new AbortController()
    const waiting = budget.acquire(1, controller.signal)
    controller.abort(new Error('SIGINT received'))
    await expect(waiting).rejects.toMatchObject({ code: 'HAUL_ABORTED' })
    budget.release(1)
    expect(budget.free).toBe(1)
  })
})
