"""What a full re-embed and a full thesis extraction would cost on OpenAI, from counted tokens.

Counts the ``cl100k_base`` tokens of every investor's six served texts in a built database (the
embedded one by default; ``--url`` for another, e.g. the 2013 Crunchbase build), scales them to
``--investors``, and prices a full re-embed with the embedding model and a full extraction with the
chat model, synchronous and through the Batch API (half price). No real investor documents are at
hand, so the extraction's document tokens are an assumption (``--document-tokens``), as is the
answer's length (``--answer-tokens``).

    INVEST_ASSETS_HOME=/tmp/real2013/home .venv/bin/python -m bench.bench_openai_cost --investors 100000
"""

from __future__ import annotations

import argparse
import math

import psycopg

from invest_assets.resources.embedders import OPENAI_MAX_INPUTS, USD_PER_MILLION_TOKENS, cl100k
from invest_assets.resources.extractors import USD_PER_MILLION_TOKENS as CHAT_USD_PER_MILLION_TOKENS
from invest_assets.resources.factories import database_resource, resolved
from invest_assets.sources.schema import DIMENSIONS, dimension_column
from invest_assets.theses.extraction import system_prompt

BATCH_DISCOUNT = 0.5


def counted(conn: psycopg.Connection) -> tuple[int, int, int]:
    """Live investors, their served texts and those texts' tokens."""
    encoding = cl100k()
    investors = conn.execute("SELECT count(*) FROM investors WHERE deleted_at IS NULL").fetchone()[0]
    texts = tokens = 0
    for dimension in DIMENSIONS:
        column = dimension_column(dimension, "text")
        cursor = conn.execute(f"SELECT {column} FROM investors WHERE deleted_at IS NULL AND {column} IS NOT NULL")
        while rows := cursor.fetchmany(10_000):
            texts += len(rows)
            tokens += sum(len(ids) for ids in encoding.encode_ordinary_batch([r[0] for r in rows]))
    return investors, texts, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--investors", type=int, default=100_000, help="scale the counts to this many investors")
    parser.add_argument("--url", help="database to count (default: ALLOYDB_URL or the embedded one)")
    parser.add_argument("--embedding-model", default="text-embedding-3-small")
    parser.add_argument("--chat-model", default="gpt-4o-mini")
    parser.add_argument("--document-tokens", type=int, default=2_000, help="assumed documents an investor")
    parser.add_argument("--answer-tokens", type=int, default=400, help="assumed answer length")
    args = parser.parse_args()
    url = args.url or resolved(database_resource()).database_url()
    with psycopg.connect(url) as conn:
        investors, texts, tokens = counted(conn)
    scale = args.investors / investors
    embed_tokens = tokens * scale
    embed_usd = embed_tokens * USD_PER_MILLION_TOKENS[args.embedding_model] / 1e6
    embed_requests = math.ceil(texts * scale / OPENAI_MAX_INPUTS)
    prompt_tokens = len(cl100k().encode_ordinary(system_prompt())) + args.document_tokens
    input_price, output_price = CHAT_USD_PER_MILLION_TOKENS[args.chat_model]
    extract_in, extract_out = prompt_tokens * args.investors, args.answer_tokens * args.investors
    extract_usd = (extract_in * input_price + extract_out * output_price) / 1e6
    print(
        f"counted: {investors:,} investors, {texts:,} texts, {tokens:,} tokens ({tokens / investors:.1f} an investor)"
    )
    print(f"scaled to {args.investors:,} investors; Batch API at {BATCH_DISCOUNT:.0%} of the price\n")
    print("| run | requests | input tokens | output tokens | synchronous | Batch API |")
    print("|---|---|---|---|---|---|")
    print(
        f"| full re-embed, six dimensions ({args.embedding_model}) | {embed_requests:,} | "
        f"{embed_tokens / 1e6:.1f} M | 0 | ${embed_usd:.2f} | ${embed_usd * BATCH_DISCOUNT:.2f} |"
    )
    print(
        f"| full extraction ({args.chat_model}), {args.document_tokens:,} document tokens an investor | "
        f"{args.investors:,} | {extract_in / 1e6:.1f} M | {extract_out / 1e6:.1f} M | ${extract_usd:.2f} | "
        f"${extract_usd * BATCH_DISCOUNT:.2f} |"
    )


if __name__ == "__main__":
    main()
