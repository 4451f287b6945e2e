"""Programmatic, varied, real-language prompts for the embedding and index benchmarks.

Templates crossed with word lists give many thousands of distinct sentences that read
like what people ask an assistant (how-to, explain, write, translate, compare, fix).
Deterministic for a given seed.
"""

from __future__ import annotations

import random

__all__ = ["paraphrase", "sentences"]

TOPICS = [
    "photosynthesis",
    "the French revolution",
    "black holes",
    "compound interest",
    "machine learning",
    "the immune system",
    "climate change",
    "inflation",
    "the stock market",
    "quantum computing",
    "the Roman empire",
    "plate tectonics",
    "blockchain",
    "vaccines",
    "the water cycle",
    "supply and demand",
    "DNA replication",
    "the Cold War",
    "neural networks",
    "renewable energy",
    "the theory of relativity",
    "operating systems",
    "public key cryptography",
    "the Renaissance",
    "sleep cycles",
    "ocean currents",
    "the printing press",
    "volcanoes",
    "antibiotics",
    "jazz music",
    "the stoic philosophers",
    "interest rates",
    "coral reefs",
    "the Silk Road",
    "garbage collection",
    "TCP congestion control",
    "the electoral college",
    "bread fermentation",
    "migratory birds",
    "the human heart",
    "solar panels",
]
TASKS = [
    "a cover letter for a {job} position",
    "a birthday message for my {relative}",
    "a short poem about {thing}",
    "a product description for {product}",
    "an email asking my {relative} for help with {chore}",
    "a tweet announcing {product}",
    "a bedtime story about {animal} who loves {thing}",
    "a haiku about {thing}",
    "a complaint letter about a broken {product}",
    "a speech for my {relative}'s wedding",
]
JOBS = [
    "nurse",
    "data analyst",
    "teacher",
    "software engineer",
    "chef",
    "accountant",
    "graphic designer",
    "electrician",
    "project manager",
    "pharmacist",
]
RELATIVES = [
    "sister",
    "grandfather",
    "best friend",
    "neighbour",
    "boss",
    "uncle",
    "mother",
    "colleague",
    "cousin",
    "son",
]
THINGS = [
    "autumn rain",
    "the sea",
    "city lights",
    "old books",
    "morning coffee",
    "mountains",
    "the moon",
    "a lost key",
    "snowfall",
    "summer gardens",
]
PRODUCTS = [
    "a coffee grinder",
    "noise cancelling headphones",
    "a standing desk",
    "an electric bike",
    "a smart thermostat",
    "a hiking backpack",
    "a cast iron pan",
    "a mechanical keyboard",
    "a robot vacuum",
    "a tent",
]
ANIMALS = [
    "a small fox",
    "a shy octopus",
    "an old elephant",
    "a brave mouse",
    "a curious cat",
    "a sleepy bear",
    "a clever crow",
    "a lonely whale",
]
CHORES = [
    "moving house",
    "painting the fence",
    "fixing the car",
    "planning a party",
    "filing taxes",
    "looking after the dog",
    "cleaning the garage",
]
LANGS = ["Python", "JavaScript", "Rust", "Go", "SQL", "Java", "C++", "Bash", "TypeScript"]
CODE_TASKS = [
    "reverse a linked list",
    "parse a CSV file",
    "read a JSON config",
    "sort a dictionary by value",
    "retry an HTTP request with backoff",
    "remove duplicates from a list",
    "merge two sorted arrays",
    "count words in a file",
    "validate an email address",
    "resize images in a folder",
    "connect to a PostgreSQL database",
    "compute a moving average",
    "watch a directory for changes",
    "hash a password safely",
    "paginate API results",
    "split a string on whitespace",
]
ERRORS = [
    "a segmentation fault",
    "an off by one error",
    "a memory leak",
    "a null pointer exception",
    "a deadlock",
    "a race condition",
    "a timeout",
    "a permission denied error",
    "an import error",
    "a stack overflow",
]
PLACES = [
    "Lisbon",
    "Kyoto",
    "Mexico City",
    "Cape Town",
    "Reykjavik",
    "Hanoi",
    "Vienna",
    "Buenos Aires",
    "Marrakesh",
    "Vancouver",
    "Istanbul",
    "Edinburgh",
]
DURATIONS = ["a weekend", "three days", "one week", "ten days", "two weeks"]
BUDGETS = [
    "a tight budget",
    "a family with kids",
    "a solo traveller",
    "a honeymoon",
    "someone who hates crowds",
    "a food lover",
]
FOODS = [
    "lasagna",
    "vegetable curry",
    "banana bread",
    "ramen",
    "paella",
    "pancakes",
    "a vegan chili",
    "sourdough",
    "chicken soup",
    "falafel",
    "tiramisu",
    "dumplings",
]
LEVELS = [
    "a five year old",
    "a high school student",
    "a beginner",
    "an expert",
    "my grandmother",
    "a busy executive",
]
PHRASES = [
    "good morning",
    "where is the train station",
    "thank you very much",
    "I would like a table for two",
    "how much does this cost",
    "I am lost",
    "nice to meet you",
    "the meeting is postponed until Friday",
]
TARGET_LANGS = [
    "Spanish",
    "German",
    "Japanese",
    "Italian",
    "Portuguese",
    "Korean",
    "Dutch",
    "Polish",
    "Arabic",
    "Swahili",
]

TEMPLATES = [
    "Explain {topic} to {level}.",
    "Can you explain how {topic} works in simple terms?",
    "What is the history of {topic}?",
    "Give me three surprising facts about {topic}.",
    "Summarise the main debates about {topic}.",
    "Compare {topic} and {topic2}: how are they related?",
    "Write {task}.",
    "Please write {task}, keep it under 100 words.",
    "How do I {code} in {lang}?",
    "Write a {lang} function to {code}.",
    "My {lang} program crashes with {error} when I {code}, how do I debug it?",
    "What is the idiomatic way to {code} in {lang}?",
    "Plan a trip to {place} for {duration} for {budget}.",
    "What should I see in {place} if I only have {duration}?",
    "Give me a recipe for {food} that takes less than an hour.",
    "How do I make {food} without an oven?",
    "Translate '{phrase}' into {target}.",
    "How do you say '{phrase}' in {target}, formally and informally?",
    "Is it better to learn {lang} or {lang2} first for a job as a {job}?",
    "What skills does a {job} need, and how long does it take to become one?",
    "Write {task} and mention {topic}.",
    "How would {topic} affect a {job} living in {place}?",
    "Suggest a {duration} {lang} study plan for {level} who works as a {job}.",
    "My {relative} wants to learn about {topic}; recommend two books for {level}.",
    "Write a {lang} script that can {code} and handles {error} gracefully.",
]


def _fill(template: str, rng: random.Random) -> str:
    topic, topic2 = rng.sample(TOPICS, 2)
    lang, lang2 = rng.sample(LANGS, 2)
    task = rng.choice(TASKS).format(
        job=rng.choice(JOBS),
        relative=rng.choice(RELATIVES),
        thing=rng.choice(THINGS),
        product=rng.choice(PRODUCTS),
        animal=rng.choice(ANIMALS),
        chore=rng.choice(CHORES),
    )
    return template.format(
        topic=topic,
        topic2=topic2,
        level=rng.choice(LEVELS),
        task=task,
        code=rng.choice(CODE_TASKS),
        lang=lang,
        lang2=lang2,
        error=rng.choice(ERRORS),
        place=rng.choice(PLACES),
        duration=rng.choice(DURATIONS),
        budget=rng.choice(BUDGETS),
        food=rng.choice(FOODS),
        phrase=rng.choice(PHRASES),
        target=rng.choice(TARGET_LANGS),
        job=rng.choice(JOBS),
        relative=rng.choice(RELATIVES),
    )


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct prompts (raises if the templates cannot make that many)."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < n:
        attempts += 1
        if attempts > 50 * n:
            raise ValueError(f"cannot make {n} distinct sentences")
        seen.setdefault(_fill(rng.choice(TEMPLATES), rng), None)
    return list(seen)


_SWAPS = [
    ("Explain", "Describe"),
    ("Can you", "Could you"),
    ("How do I", "How can I"),
    ("Write", "Draft"),
    ("Give me", "Tell me"),
    ("What is", "What's"),
    ("Please write", "Write"),
    ("simple terms", "plain words"),
    ("Plan", "Organise"),
]


def paraphrase(text: str, rng: random.Random) -> str:
    """A light rewording the way users rephrase a question (word swaps, case, filler)."""
    out = text
    for a, b in rng.sample(_SWAPS, len(_SWAPS)):
        if a in out and rng.random() < 0.7:
            out = out.replace(a, b, 1)
    fillers = ["", "Hi! ", "Quick question: ", "hey, ", "Please: "]
    out = rng.choice(fillers) + out
    if rng.random() < 0.3:
        out = out.lower()
    if rng.random() < 0.4:
        out = out.rstrip(".?") + (" thanks" if rng.random() < 0.5 else " please?")
    return out
