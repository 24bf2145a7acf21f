"""The ALFWorld solver behind the expert, on small hand-written states (no game engine needed)."""

from __future__ import annotations

from harness.envs.alfworld.oracle import State, TaskSpec, next_command


def kitchen(**changes) -> list[tuple[str, tuple[str, ...]]]:
    """Facts of a small kitchen: two mugs, a closed cabinet, a counter, a microwave, a fridge, a lamp."""
    facts = {
        ("atlocation", ("agent1", "loc 1")),
        ("receptacleatlocation", ("countertop 1", "loc 2")),
        ("receptacleatlocation", ("cabinet 1", "loc 3")),
        ("receptacleatlocation", ("microwave 1", "loc 4")),
        ("receptacleatlocation", ("fridge 1", "loc 5")),
        ("receptacleatlocation", ("sidetable 1", "loc 6")),
        ("receptacletype", ("countertop 1", "countertoptype")),
        ("receptacletype", ("cabinet 1", "cabinettype")),
        ("receptacletype", ("microwave 1", "microwavetype")),
        ("receptacletype", ("fridge 1", "fridgetype")),
        ("receptacletype", ("sidetable 1", "sidetabletype")),
        ("openable", ("cabinet 1",)),
        ("objecttype", ("mug 1", "mugtype")),
        ("objecttype", ("mug 2", "mugtype")),
        ("objecttype", ("desklamp 1", "desklamptype")),
        ("inreceptacle", ("mug 1", "countertop 1")),
        ("inreceptacle", ("mug 2", "cabinet 1")),
        ("inreceptacle", ("desklamp 1", "sidetable 1")),
    }
    for fact in changes.get("remove", []):
        facts.discard(fact)
    return sorted(facts | set(changes.get("add", [])))


def play(task: TaskSpec, facts: list, steps: int = 12) -> list[str]:
    """Apply the solver's commands to a tiny model of their effects until it repeats or runs out."""
    state, commands = set(facts), []
    for _ in range(steps):
        command = next_command(task, State.from_facts(sorted(state)))
        commands.append(command)
        verb, rest = command.split(" ", 1)
        if command.startswith("go to "):
            place = dict(f[1] for f in state if f[0] == "receptacleatlocation")[command[6:]]
            state = {f for f in state if f[0] != "atlocation"} | {("atlocation", ("agent1", place))}
        elif verb == "open":
            state.add(("opened", (rest,)))
        elif verb == "take":
            obj, source = rest.split(" from ")
            state = (state - {("inreceptacle", (obj, source))}) | {("holds", ("agent1", obj))}
        elif verb == "put":
            obj, target = rest.split(" in/on ")
            state = (state - {("holds", ("agent1", obj))}) | {("inreceptacle", (obj, target))}
        elif verb in ("heat", "cool", "clean"):
            state.add(({"heat": "ishot", "cool": "iscool", "clean": "isclean"}[verb], (rest.split(" with ")[0],)))
        elif verb == "use":
            break
        if sum(1 for f in state if f[0] == "inreceptacle" and f[1][1] == "sidetable 1" and f[1][0].startswith("mug")) >= 2:
            break
    return commands


def test_place_takes_the_easiest_object_and_puts_it_in_the_goal_receptacle():
    task = TaskSpec("place", "mugtype", "sidetabletype", "type")
    assert play(task, kitchen(), steps=4) == ["go to countertop 1", "take mug 1 from countertop 1", "go to sidetable 1",
                                              "put mug 1 in/on sidetable 1"]


def test_heat_goes_through_the_microwave_before_placing():
    task = TaskSpec("heat", "mugtype", "sidetabletype", "type")
    assert play(task, kitchen(), steps=6) == ["go to countertop 1", "take mug 1 from countertop 1", "go to microwave 1",
                                              "heat mug 1 with microwave 1", "go to sidetable 1", "put mug 1 in/on sidetable 1"]


def test_two_objects_go_to_the_same_receptacle_opening_what_is_closed():
    task = TaskSpec("two", "mugtype", "sidetabletype", "type")
    assert play(task, kitchen()) == ["go to countertop 1", "take mug 1 from countertop 1", "go to sidetable 1",
                                     "put mug 1 in/on sidetable 1", "go to cabinet 1", "open cabinet 1",
                                     "take mug 2 from cabinet 1", "go to sidetable 1", "put mug 2 in/on sidetable 1"]


def test_look_carries_the_object_to_the_lamp_and_switches_it_on():
    task = TaskSpec("look", "mugtype", "type", "desklamptype")
    assert play(task, kitchen()) == ["go to countertop 1", "take mug 1 from countertop 1", "go to sidetable 1", "use desklamp 1"]


def test_a_wrong_object_in_hand_is_put_down_first():
    task = TaskSpec("place", "mugtype", "sidetabletype", "type")
    facts = kitchen(add=[("objecttype", ("apple 1", "appletype")), ("holds", ("agent1", "apple 1")),
                         ("atlocation", ("agent1", "loc 2"))], remove=[("atlocation", ("agent1", "loc 1"))])
    assert next_command(task, State.from_facts(facts)) == "put apple 1 in/on countertop 1"
