import asyncio
from datetime import datetime, timedelta
from omniq.models.task import Task
from omniq.models.schedule import Schedule
from omniq.queue import MemoryTaskQueue # Can be replaced with other queue types

async def demonstrate_task_queue():
    task_queue = MemoryTaskQueue()

    # Create a simple task
    def my_simple_func(x, y):
        return x + y
    
    simple_task = Task(func=my_simple_func, args=(10, 20))
    await task_queue.enqueue(simple_task)
    print(f"Enqueued simple task: {simple_task.id}")

    # Create a scheduled task
    def my_scheduled_func():
        print("Scheduled task executed!")
    
    future_time = datetime.utcnow() + timedelta(seconds=5)
    scheduled_task = Task(
        func=my_scheduled_func,
        schedule=Schedule(run_at=future_time)
    )
    await task_queue.enqueue(scheduled_task)
    print(f"Enqueued scheduled task: {scheduled_task.id} to run at {future_time}")

    # Dequeue a task (as a worker would)
    dequeued_task = await task_queue.dequeue()
    if dequeued_task:
        print(f"Dequeued task: {dequeued_task.id}")
        # Execute the task
        result = dequeued_task.func(*dequeued_task.args, **dequeued_task.kwargs)
        print(f"Task result: {result}")
    else:
        print("No tasks in queue.")

    # Demonstrate named queues
    task_high_prio = Task(func=lambda: "High Prio", queue_name="high_priority", priority=10)
    task_low_prio = Task(func=lambda: "Low Prio", queue_name="low_priority", priority=1)

    await task_queue.enqueue(task_high_prio)
    await task_queue.enqueue(task_low_prio)
    print(f"Enqueued tasks to named queues.")

    # Dequeue from specific queue
    high_prio_task = await task_queue.dequeue(queue_name="high_priority")
    if high_prio_task:
        print(f"Dequeued from high_priority: {high_prio_task.func()}")

    # Clean up (delete) a task
    await task_queue.delete_task(simple_task.id)
    print(f"Deleted task {simple_task.id}")

if __name__ == "__main__":
    asyncio.run(demonstrate_task_queue())
