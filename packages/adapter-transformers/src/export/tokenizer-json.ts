// llama2.c tokenizer.bin (SentencePiece-BPE with scores) -> Hugging Face tokenizer.json.
// run.c merges, repeatedly, the adjacent pair whose concatenation has the highest score;
// a BPE model whose merges are ranked by the merged piece's score (highest first) makes the
// same choices. The dummy-prefix space becomes a Prepend("▁") normalizer, spaces become "▁"
// (SentencePiece's marker), unknown characters fall back to <0xNN> byte tokens.
import type { ExportableTokenizer } from './types.js';

/** SentencePiece's space marker U+2581. */
const SPACE_MARKER = '\u2581';
const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;

/** Names Hugging Face's Llama tokenizers give the special ids. */
export const SPECIAL_TOKENS = { unk: '<unk>', bos: '<s>', eos: '</s>' } as const;

function binaryToText(piece: string): string {
  const bytes = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) bytes[i] = piece.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/** Vocabulary strings as tokenizer.json holds them (UTF-8, "▁" for spaces). */
export function vocabularyStrings(tok: ExportableTokenizer): string[] {
  return tok.pieces.map((piece, id) => {
    if (id === tok.unkId) return SPECIAL_TOKENS.unk;
    if (id === tok.bosId) return SPECIAL_TOKENS.bos;
    if (id === tok.eosId) return SPECIAL_TOKENS.eos;
    if (BYTE_PIECE.test(piece)) return piece;
    return binaryToText(piece).split(' ').join(SPACE_MARKER);
  });
}

/**
 * Every (left, right) pair of vocabulary pieces whose concatenation is a piece, ranked by
 * that piece's score (highest first), ties by its id: the merge order run.c follows.
 */
export function mergesFromScores(tok: ExportableTokenizer, vocab: readonly string[]): string[][] {
  const mergeable = new Map<string, number>();
  vocab.forEach((text, id) => {
    const special = id === tok.unkId || id === tok.bosId || id === tok.eosId;
    if (!special && !BYTE_PIECE.test(tok.pieces[id]!) && !mergeable.has(text)) {
      mergeable.set(text, id);
    }
  });
  const ranked: { left: string; right: string; score: number; id: number }[] = [];
  for (const [text, id] of mergeable) {
    const chars = Array.from(text);
    for (let cut = 1; cut < chars.length; cut++) {
      const left = chars.slice(0, cut).join('');
      const right = chars.slice(cut).join('');
      if (mergeable.has(left) && mergeable.has(right)) {
        ranked.push({ left, right, score: tok.scores[id]!, id });
      }
    }
  }
  ranked.sort((a, b) => b.score - a.score || a.id - b.id);
  return ranked.map((m) => [m.left, m.right]);
}

const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/** The tokenizer.json object (Hugging Face `tokenizers` format, BPE with byte fallback). */
export function tokenizerJson(tok: ExportableTokenizer): Record<string, unknown> {
  const vocab = vocabularyStrings(tok);
  const vocabMap: Record<string, number> = {};
  vocab.forEach((text, id) => {
    if (!(text in vocabMap)) vocabMap[text] = id;
  });
  const bos = SPECIAL_TOKENS.bos;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      special(tok.unkId, SPECIAL_TOKENS.unk),
      special(tok.bosId, SPECIAL_TOKENS.bos),
      special(tok.eosId, SPECIAL_TOKENS.eos),
    ].sort((a, b) => a.id - b.id),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE_MARKER },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARKER },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [tok.bosId], tokens: [bos] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE_MARKER }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: SPECIAL_TOKENS.unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: vocabMap,
      merges: mergesFromScores(tok, vocab),
    },
  };
}

/** tokenizer_config.json for the same vocabulary (LlamaTokenizer, BOS added, no EOS). */
export function tokenizerConfigJson(
  tok: ExportableTokenizer,
  maxLength: number,
): Record<string, unknown> {
  return {
    tokenizer_class: 'LlamaTokenizer',
    bos_token: SPECIAL_TOKENS.bos,
    eos_token: SPECIAL_TOKENS.eos,
    unk_token: SPECIAL_TOKENS.unk,
    pad_token: null,
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: maxLength,
    vocab_size: tok.pieces.length,
  };
}
