"""Text fragments for the demo app database.

Texts are assembled from fragments with slots ({partner}, {friend}, {workplace}, {place},
{day}, {title}, ...) so the same fragment rarely yields the same sentence twice, and so the
personal details the scrubber must remove (names, workplaces, emails, phones) appear *inside*
the free text at realistic rates. The coach replies are written to be sensible and
empathetic: they become training data.
"""

from __future__ import annotations

TOPICS: tuple[str, ...] = (
    "communication",
    "conflict",
    "quality_time",
    "intimacy",
    "finances",
    "household",
    "family",
    "parenting",
    "long_distance",
    "trust",
    "work_stress",
    "appreciation",
    "future_plans",
)

MOODS: tuple[str, ...] = (
    "great",
    "good",
    "okay",
    "meh",
    "low",
    "stressed",
    "anxious",
    "hopeful",
    "frustrated",
    "grateful",
)

POSITIVE_MOODS = frozenset({"great", "good", "hopeful", "grateful"})

MOOD_OPENERS: dict[str, tuple[str, ...]] = {
    "great": (
        "Honestly today was a really good day.",
        "Feeling on top of the world tonight.",
        "Today felt light and easy between us.",
        "Best day we've had in a while.",
    ),
    "good": (
        "Pretty good day overall.",
        "Things felt steady today.",
        "A calm, good day.",
        "Good day, nothing dramatic.",
    ),
    "okay": (
        "Today was fine, I guess.",
        "Not bad, not great.",
        "An ordinary kind of day.",
        "Mixed day today.",
    ),
    "meh": (
        "Kind of a flat day.",
        "Didn't feel very connected today.",
        "Meh. We were both just going through the motions.",
        "Not much to report, we barely talked.",
    ),
    "low": (
        "Feeling pretty down tonight.",
        "Rough day, and I feel lonely even though we're together.",
        "I'm sad and I can't quite put my finger on why.",
        "Today was heavy.",
    ),
    "stressed": (
        "So much stress this week.",
        "I'm stretched really thin right now.",
        "Everything is piling up and I'm snapping at people.",
        "Stressful day, my head is spinning.",
    ),
    "anxious": (
        "I've had a knot in my stomach all day.",
        "Feeling anxious about us lately.",
        "My mind keeps replaying things.",
        "I'm worried and I don't know if I'm overthinking.",
    ),
    "hopeful": (
        "Feeling hopeful after today.",
        "I think we're turning a corner.",
        "Small win today and it gave me hope.",
        "Something shifted today, in a good way.",
    ),
    "frustrated": (
        "I'm so frustrated right now.",
        "Same argument again today.",
        "I feel like I'm talking to a wall.",
        "Annoyed and tired of repeating myself.",
    ),
    "grateful": (
        "Feeling really grateful tonight.",
        "I want to remember today.",
        "I'm thankful for how we handled things today.",
        "Grateful is the word for today.",
    ),
}

# What happened, per topic. Slots: partner, friend, workplace, place, day. A leading "+" marks a
# positive event (the mood and the coach's validation follow it); the "+" is not part of the text.
CHECKIN_EVENTS: dict[str, tuple[str, ...]] = {
    "communication": (
        "+{partner} and I actually talked for an hour after dinner without our phones.",
        "+I tried the 'I feel' statements and {partner} really listened for once.",
        "We keep misunderstanding each other over text, it turns into a fight every time.",
        "{partner} said I never ask about their day, and I think they might be right.",
        "+I told {partner} how I felt about the weekend plans instead of bottling it up.",
        "+We had a proper conversation about what we both need when we're stressed.",
        "{partner} went quiet again when I brought up something that bothered me.",
    ),
    "conflict": (
        "We had a big argument about the dishes that was really about feeling unappreciated.",
        "{partner} and I argued in the car and neither of us apologised.",
        "We fought about {friend}'s party and I said things I regret.",
        "+We managed to take a break mid-argument and come back calmer, which is new for us.",
        "The same fight about being late came up again, third time this week.",
        "{partner} brought up something from months ago in the middle of a small disagreement.",
        "+We disagreed about money but stayed respectful, I'm proud of that.",
    ),
    "quality_time": (
        "+We cooked together and danced in the kitchen like we used to.",
        "+{partner} planned a surprise walk to {place} and it was lovely.",
        "We haven't had a real date in weeks, it's all logistics and chores.",
        "We watched a movie but both of us were on our phones the whole time.",
        "+Spent {day} morning in bed talking and drinking coffee.",
        "+We tried a new board game and laughed so much.",
        "{partner} cancelled our date night again because of work.",
    ),
    "intimacy": (
        "We've felt more like roommates than partners lately.",
        "+{partner} held my hand all evening and it meant more than they know.",
        "I want more physical affection but I don't know how to bring it up without it sounding like criticism.",
        "+We had a really tender evening and I felt close to {partner} again.",
        "I felt rejected when {partner} pulled away tonight.",
        "+We talked openly about what we want in bed and it was less awkward than I feared.",
    ),
    "finances": (
        "We argued about spending again after {partner} bought a new bike without asking.",
        "+We finally sat down and made a budget together.",
        "I'm stressed about rent and I don't want to worry {partner}.",
        "{partner} wants to save for a house and I want to travel, we can't agree.",
        "+We opened a joint account today, felt like a big step.",
        "Money is tight and it's making both of us short-tempered.",
    ),
    "household": (
        "I feel like I do all the cleaning and {partner} doesn't notice.",
        "+We made a chore chart and {partner} actually stuck to it this week.",
        "Argued about laundry, which is silly, but it felt like it was about respect.",
        "+{partner} cooked dinner without being asked and I nearly cried.",
        "The house is a mess and we keep blaming each other.",
        "+We split the chores differently and it already feels fairer.",
    ),
    "family": (
        "{partner}'s mother made another comment about when we're having kids.",
        "Holiday plans with both families are stressing me out.",
        "+{partner} defended me to their dad today and I felt so supported.",
        "My sister stayed with us all week and there's been no space for us.",
        "We disagree on how much time to spend with my parents.",
        "{partner} doesn't get along with my brother and I feel stuck in the middle.",
    ),
    "parenting": (
        "The kids were up all night and {partner} and I barely said a word to each other.",
        "We disagreed about screen time in front of the children.",
        "+{partner} took the kids to {place} so I could rest, that was so kind.",
        "We're so tired from parenting that there's nothing left for us.",
        "+We finally agreed on a bedtime routine and stuck to it together.",
        "I feel like the default parent and it's building resentment.",
    ),
    "long_distance": (
        "Video call with {partner} got cut short again because of the time difference.",
        "+Counting down the days until I see {partner}, 12 more to go.",
        "Long distance is wearing me down, I miss the small everyday things.",
        "+We watched the same movie at the same time over a call, it felt close.",
        "{partner} forgot to call when they said they would and I spiralled.",
        "+We booked flights for next month and I'm so excited.",
    ),
    "trust": (
        "I saw a message on {partner}'s phone and now I can't stop thinking about it.",
        "{partner} has been texting an ex and says it's nothing.",
        "I'm trying to rebuild trust after what happened last year.",
        "+{partner} was open with me about something hard today, and I appreciated the honesty.",
        "I got jealous when {partner} went out with {friend} and I hate feeling like this.",
        "+We talked about boundaries with friends and it helped.",
    ),
    "work_stress": (
        "Work at {workplace} has been brutal and I bring it home.",
        "{partner} has been working late at {workplace} every night this week.",
        "+I got passed over for a promotion and {partner} was really supportive.",
        "I snapped at {partner} because of a bad meeting, not because of anything they did.",
        "Deadlines at {workplace} mean I've barely seen {partner} awake.",
        "{partner} is thinking of quitting their job and I'm nervous about it.",
    ),
    "appreciation": (
        "+{partner} left a note in my bag this morning, small thing, big smile.",
        "+I told {partner} three things I appreciate about them and they lit up.",
        "I realised I haven't said thank you for all the little things {partner} does.",
        "+{partner} noticed I was tired and ran me a bath.",
        "+We did the gratitude exercise at dinner and it shifted the whole mood.",
        "+{friend} pointed out how lucky I am, and honestly I agree.",
    ),
    "future_plans": (
        "We talked about moving to {city} and we're not on the same page.",
        "{partner} brought up marriage and I froze.",
        "We started talking about kids and realised we've never really discussed it.",
        "+We made a five-year plan over dinner, it was exciting and a little scary.",
        "{partner} got a job offer in another city and we have to decide soon.",
        "We disagree about whether to get a dog, which is really about how we want to live.",
    ),
}

CHECKIN_CLOSERS: tuple[str, ...] = (
    "",
    "",
    "",
    " Not sure what to do next.",
    " I want to handle this better.",
    " Any ideas?",
    " I just needed to write that down.",
    " How do I bring this up without starting a fight?",
    " I love them, I just want us to feel close again.",
    " Trying to stay patient.",
    " Hoping tomorrow is better.",
)

VALIDATIONS_POSITIVE: tuple[str, ...] = (
    "That sounds like a really meaningful moment, and it's great that you noticed it.",
    "I love hearing this. Moments like these are what build a strong connection over time.",
    "It's wonderful that you're taking time to savour this.",
    "What a lovely thing to reflect on. Noticing the good days helps carry you through the hard ones.",
    "That's a real win, and you both contributed to it.",
    "It sounds like you both really showed up for each other, and it makes sense that it felt so good. "
    "Would you like a few ideas to keep it going?",
    "I hear how much that meant to you, and your feelings are so valid: being cared for like that matters. "
    "How are you feeling about the week ahead?",
)

VALIDATIONS_NEGATIVE: tuple[str, ...] = (
    "That sounds really hard, and it makes sense that you feel hurt and worn out.",
    "Thank you for being honest about how you're feeling. That takes courage.",
    "I'm sorry today was so heavy. Your feelings are valid.",
    "It's understandable to feel frustrated when the same issue keeps coming back.",
    "It sounds like you've been carrying a lot. It's okay to feel overwhelmed and not have it all figured out.",
    "That must feel lonely, and it sounds like you miss how close you were. Wanting that closeness is a "
    "completely valid need.",
)

VALIDATIONS_NEUTRAL: tuple[str, ...] = (
    "Thanks for checking in, even ordinary days are worth reflecting on.",
    "It's okay to have in-between days. Relationships have rhythms.",
    "I appreciate you taking a moment to reflect today.",
)

# Coach suggestions per topic; slots: partner.
COACH_SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "communication": (
        "Try setting aside ten minutes tonight where one of you talks and the other only listens, then switch.",
        "When you bring something up, starting with 'I feel... when... because...' keeps it about your "
        "experience rather than blame.",
        "For sensitive topics, consider talking in person rather than over text, where tone gets lost easily.",
        "You might ask {partner} what helps them feel heard, and share what helps you.",
    ),
    "conflict": (
        "It can help to agree on a pause signal: when either of you uses it, you take twenty minutes apart "
        "and then come back to the conversation.",
        "Often the surface argument is about a deeper need, like feeling appreciated. Naming that need "
        "directly can soften things.",
        "A repair attempt, even a small one like 'I'm sorry, can we start over?', goes a long way after a fight.",
        "Try to focus on the one issue at hand rather than bringing in past disagreements.",
    ),
    "quality_time": (
        "Protecting one phone-free evening a week can make a big difference, even if it's just cooking together.",
        "You could take turns planning a small date, nothing expensive, just something new for both of you.",
        "Even fifteen minutes of undistracted time each day counts. Consistency matters more than grand gestures.",
        "Consider putting a recurring date night in both calendars so it doesn't get squeezed out.",
    ),
    "intimacy": (
        "Sharing a need as an invitation, like 'I'd love more cuddling in the evenings', tends to land better "
        "than framing it as something missing.",
        "Small daily touches, a hug before work or holding hands on a walk, can rebuild closeness gradually.",
        "It might help to choose a calm, private moment to talk about intimacy, rather than right after "
        "feeling rejected.",
        "Ask {partner} what makes them feel close to you. The answer may surprise you both.",
    ),
    "finances": (
        "A monthly money date, where you review spending together without judgement, can take the heat out "
        "of these conversations.",
        "It can help to agree on an amount each of you can spend without checking in first.",
        "Try talking about what money means to each of you, security, freedom, fun, before talking numbers.",
        "Consider setting one shared goal and one individual goal each, so both priorities get room.",
    ),
    "household": (
        "Writing down every recurring task and dividing them explicitly can make the invisible work visible.",
        "Try a weekly ten-minute check-in about chores, so small resentments don't pile up.",
        "Appreciating the tasks {partner} does, out loud, often makes both of you more willing to pitch in.",
        "It may help to talk about standards: what 'clean' means to each of you is often different.",
    ),
    "family": (
        "Agreeing together, in private, on how you'll respond to family pressure helps you present a united front.",
        "It's okay to set gentle boundaries with family. You can be loving and still say no.",
        "Try planning family time in advance so neither of you feels ambushed.",
        "Let {partner} know how much it meant when they supported you. Naming it encourages more of it.",
    ),
    "parenting": (
        "Even five minutes of adult conversation after the kids are asleep can help you feel like partners, "
        "not just co-parents.",
        "Disagreements about parenting are best discussed away from the children, then presented together.",
        "Try trading a free hour each weekend so each of you gets real rest.",
        "Making the mental load visible, a shared list of everything that needs remembering, can ease resentment.",
    ),
    "long_distance": (
        "Having a shared ritual, like a goodnight message or a weekly call at a fixed time, adds stability.",
        "Planning your next visit together gives you both something concrete to look forward to.",
        "It can help to tell {partner} what you need when you feel anxious, rather than waiting for them to guess.",
        "Doing small things together remotely, cooking the same recipe or reading the same book, builds closeness.",
    ),
    "trust": (
        "Rebuilding trust takes time and consistent small actions. It's okay to ask for transparency while you heal.",
        "Try to share what you saw and how it made you feel, and ask openly rather than accuse.",
        "Agreeing together on boundaries around exes and friendships can reduce guesswork for both of you.",
        "Jealousy is often a signal of insecurity. Naming the fear underneath can open a caring conversation.",
    ),
    "work_stress": (
        "A short transition ritual after work, a walk or a shower, can keep work stress from spilling into "
        "your evening together.",
        "Letting {partner} know 'it's been a hard day, it's not about you' can prevent misunderstandings.",
        "Ask each other 'do you want advice or do you want me to listen?' before diving into work problems.",
        "If long hours are the new normal for a while, agree on one protected time to connect each week.",
    ),
    "appreciation": (
        "Keep it going: sharing one specific thing you appreciate each day is one of the simplest habits with "
        "the biggest effect.",
        "Tell {partner} exactly what they did and how it made you feel. Specific appreciation lands deeper.",
        "You could start a small gratitude jar together and read the notes at the end of the month.",
    ),
    "future_plans": (
        "Big decisions go better when you each share your hopes and fears first, before looking for a solution.",
        "It's okay not to agree right away. Try exploring what each option would mean for both of you.",
        "You could each write down your ideal life in five years and compare. Overlaps are a good starting point.",
        "Give yourselves time: you don't have to decide everything in one conversation.",
    ),
}

# After a positive check-in: how to keep a good thing going.
KEEP_IT_GOING: tuple[str, ...] = (
    "It might be worth telling {partner} what made today feel good, so you can both do more of it.",
    "Noticing what works is just as important as fixing what doesn't.",
    "Consider turning this into a small ritual, so it happens on purpose rather than by chance.",
    "Moments like this build a reserve of goodwill that helps on harder days. Savour it.",
    "You could write down one thing you appreciated about {partner} today and share it with them.",
    "Whatever you did differently today, it clearly helped. Be proud of the effort you both made.",
)

POSITIVE_QUESTIONS: tuple[str, ...] = (
    "",
    " What do you think helped most?",
    " How could you make room for more days like this?",
    " How did {partner} seem to feel about it?",
)

COACH_QUESTIONS: tuple[str, ...] = (
    "",
    " How do you think {partner} would respond to that?",
    " What would feel like a good first step for you?",
    " What do you need most right now?",
    " Would you like some ideas for how to start that conversation?",
    " How did it feel to share this?",
    " What's one small thing you could try this week?",
)

# --- crisis content -------------------------------------------------------------------------

CRISIS_SELF_HARM: tuple[str, ...] = (
    "I don't really see the point of anything anymore. Sometimes I think everyone would be better off without me.",
    "I've been thinking about hurting myself again. I haven't told {partner}.",
    "After the breakup talk I just want to disappear. I've been having thoughts of ending it.",
    "I can't sleep, I can't eat, and last night I thought about taking all my pills.",
    "I feel like such a burden to {partner}. I keep thinking about not waking up.",
)

CRISIS_ABUSE: tuple[str, ...] = (
    "{partner} pushed me against the wall again last night. I'm scared to go home.",
    "{partner} checks my phone every night and won't let me see {friend} or my family anymore.",
    "When {partner} drinks they get violent. I have bruises I hide at work.",
    "{partner} threatened to hurt me if I leave. I don't know what to do.",
    "I'm afraid of {partner}. They control all our money and yell until I agree to everything.",
    "{partner} locked me out of the house in the cold after an argument.",
)

CRISIS_REPLY_SELF_HARM: tuple[str, ...] = (
    "I'm really glad you told me, and I'm so sorry you're feeling this much pain. Your safety matters most "
    "right now. If you are thinking about harming yourself, please contact a crisis line now, in the US you "
    "can call or text 988, or call your local emergency number. You don't have to go through this alone: "
    "is there someone you trust who can be with you tonight?",
    "Thank you for trusting me with something so painful. What you're describing is serious, and you "
    "deserve support from someone trained to help. Please reach out to a crisis line such as 988 (US) or "
    "your local emergency services if you feel you might act on these thoughts. I'm here to listen, and I'd "
    "also encourage you to talk to a doctor or therapist as soon as you can.",
    "I hear how exhausted and hopeless you feel, and I'm glad you reached out. If you're in danger of "
    "hurting yourself, please call your local emergency number or a suicide and crisis line right away. "
    "Could you reach out to a friend or family member now and let them know how you're feeling?",
)

CRISIS_REPLY_ABUSE: tuple[str, ...] = (
    "What you're describing is not okay, and it is not your fault. Your safety comes first. If you are in "
    "immediate danger, please call your local emergency number. A domestic violence hotline (in the US, "
    "1-800-799-7233) can help you make a safety plan confidentially. Is there a safe place you can go?",
    "I'm really sorry this is happening to you. Controlling your phone, money and who you see are signs of "
    "abuse, and you deserve to feel safe. Relationship coaching isn't the right tool for this situation: "
    "please consider contacting a domestic violence service, and if you're ever in danger, call emergency "
    "services.",
    "Thank you for telling me. No one has the right to hurt or threaten you. Please keep yourself safe: "
    "reach out to someone you trust, and consider talking to a domestic abuse helpline who can support you "
    "in planning next steps. If you feel unsafe right now, call your local emergency number.",
)

# --- non-English ------------------------------------------------------------------------------

FOREIGN_CHECKINS: dict[str, tuple[str, ...]] = {
    "es": (
        "Hoy {partner} y yo hablamos mucho después de cenar y me sentí muy conectada.",
        "Discutimos otra vez por el dinero. Estoy cansada de la misma pelea.",
        "{partner} me preparó el desayuno, fue un detalle precioso.",
        "Me siento sola aunque vivimos juntos. No sé cómo decírselo a {partner}.",
        "Fuimos a {place} el {day} y nos reímos como antes.",
    ),
    "de": (
        "Heute haben {partner} und ich endlich wieder richtig miteinander geredet.",
        "Wir streiten ständig über den Haushalt und ich fühle mich nicht gesehen.",
        "{partner} hat mich heute mit Blumen überrascht, ich war total gerührt.",
        "Die Arbeit bei {workplace} frisst mich auf, ich habe kaum Zeit für uns.",
        "Wir waren am {day} in {place} spazieren, das tat uns beiden gut.",
    ),
    "fr": (
        "Aujourd'hui {partner} et moi avons enfin parlé de nos projets, ça m'a fait du bien.",
        "Encore une dispute pour les tâches ménagères, je suis épuisée.",
        "{partner} m'a laissé un petit mot ce matin, j'ai souri toute la journée.",
        "Je me sens un peu seul en ce moment, on ne se voit presque plus.",
        "On a cuisiné ensemble samedi soir, c'était un vrai moment à deux.",
    ),
}

FOREIGN_REPLIES: dict[str, tuple[str, ...]] = {
    "es": (
        "Qué bonito que hayas notado ese momento. Compartir lo que valoras con {partner} fortalece la conexión.",
        "Entiendo que te sientas así, y es válido. ¿Podrías proponer un momento tranquilo para hablar sin "
        "interrupciones?",
        "Gracias por compartirlo. Prueba a empezar con 'yo siento...' en lugar de culpar, suele ayudar mucho.",
    ),
    "de": (
        "Wie schön, dass ihr euch Zeit füreinander genommen habt. Solche Momente stärken eure Verbindung.",
        "Das klingt anstrengend, und deine Gefühle sind berechtigt. Vielleicht hilft ein fester Termin pro "
        "Woche, um über den Haushalt zu sprechen?",
        "Danke, dass du das teilst. Sag {partner} ruhig konkret, was dir gutgetan hat.",
    ),
    "fr": (
        "C'est un beau moment, merci de le partager. Dire à {partner} ce qui t'a touché renforce votre lien.",
        "Je comprends ta fatigue, c'est normal. Essayez de prévoir un moment calme pour en parler sans reproche.",
        "Tu n'es pas seul à ressentir ça. Un rituel simple à deux, même dix minutes par jour, peut aider.",
    ),
}

# English texts sometimes carry a word or two from the partner's language.
FOREIGN_SPRINKLES: tuple[str, ...] = (
    " Te quiero mucho, {partner}.",
    " Mi amor always knows how to make me laugh.",
    " Ich liebe dich, {partner}!",
    " C'est la vie, I guess.",
    " Je t'aime quand même.",
    " Ti amo anyway.",
)

# --- activities ---------------------------------------------------------------------------------

ACTIVITY_TITLES: dict[str, tuple[str, ...]] = {
    "dinner": (
        "Candlelit dinner at home",
        "Trying the new Thai place",
        "Picnic dinner by the river",
        "Cooking a three-course meal together",
        "Brunch at our favourite café",
    ),
    "outdoors": (
        "Sunset hike",
        "Bike ride along the coast",
        "Stargazing in the park",
        "Morning beach walk",
        "Camping overnight",
    ),
    "culture": (
        "Art museum afternoon",
        "Live jazz night",
        "Theatre evening",
        "Local history walking tour",
        "Open-air cinema",
    ),
    "at_home": (
        "Board game night",
        "Movie marathon with no phones",
        "Build-a-pillow-fort evening",
        "Spa night at home",
        "Puzzle and playlist night",
    ),
    "adventure": (
        "Rock climbing class",
        "Escape room",
        "Kayaking trip",
        "Trying a trampoline park",
        "Hot air balloon ride",
    ),
    "creative": (
        "Pottery class",
        "Painting night",
        "Writing love letters to each other",
        "Dance class",
        "Photography walk",
    ),
    "wellness": ("Couples yoga", "Meditation session together", "Sunday morning run", "Sauna and swim"),
    "volunteering": ("Volunteering at the food bank", "Beach clean-up", "Animal shelter visit"),
}

ACTIVITY_FEEDBACK: dict[str, tuple[str, ...]] = {
    "high": (
        "{title} was amazing. {partner} laughed the whole time and we talked like we used to.",
        "Loved it. We were both fully present for once, no phones.",
        "Such a good idea! {partner} said it was the best date in months.",
        "We felt like a team. Definitely doing this again.",
        "Perfect evening, it reminded me why we fell in love.",
    ),
    "mid": (
        "It was nice but we were both tired, so the conversation was a bit flat.",
        "{title} was fun at first, then we bickered about directions.",
        "Good idea, but it was too crowded at {place} to really talk.",
        "Pleasant enough. {partner} seemed distracted by work.",
    ),
    "low": (
        "Didn't go well. We argued on the way there and never really recovered.",
        "{partner} wasn't into it and I felt like I'd forced it.",
        "Honestly a waste of money, we didn't connect at all.",
        "Cancelled halfway because {partner} got a call from {workplace}.",
    ),
}

# The coach first responds to how the date went, then suggests what to try next.
ACTIVITY_VALIDATIONS: dict[str, tuple[str, ...]] = {
    "high": (
        "What a wonderful time, I'm so glad you both enjoyed it.",
        "That sounds like a really special date, and it's lovely that you felt so close.",
        "It's great to hear how connected you felt.",
    ),
    "mid": (
        "It sounds like a nice time, even if it wasn't quite what you hoped for.",
        "That's understandable, it's hard to connect when you're both tired or distracted.",
    ),
    "low": (
        "I'm sorry it was disappointing, that can feel really discouraging.",
        "That sounds frustrating, and it's completely okay that not every date goes well.",
    ),
}

ACTIVITY_SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "high": (
        "It sounds like this really worked for you both. You could make it a monthly ritual and take turns "
        "choosing the activity.",
        "A short debrief afterwards, 'what was your favourite moment?', helps you both remember the good parts.",
        "Since you enjoyed trying this together, consider planning something new to both of you next time: "
        "novelty is strongly linked to feeling closer.",
        "Tell {partner} what you loved about the evening. Naming it makes it more likely to happen again.",
    ),
    "mid": (
        "It sounds like the setting made it hard to connect. Next time, choose somewhere quieter and agree to "
        "leave work talk at the door.",
        "If energy is low after work, a simple at-home date can feel more restful than going out.",
        "Try alternating who plans the date. It gives each of you a chance to show what you love.",
    ),
    "low": (
        "When things start tense, a quick reset, a hug or a joke, before the date can change the whole evening.",
        "Not every date will land, and that's okay. It might help to talk with {partner} about what each of you "
        "would enjoy, so the next plan feels shared rather than forced.",
        "It may be worth protecting the next date from interruptions: phones on silent and work left for later.",
    ),
}

# --- quizzes -------------------------------------------------------------------------------------

QUIZZES: dict[str, dict[str, tuple[str, ...]]] = {
    "Love Languages": {
        "How do you most like to be shown love?": (
            "words of affirmation",
            "quality time",
            "acts of service",
            "physical touch",
            "receiving gifts",
        ),
        "What hurts most?": (
            "harsh words",
            "being ignored",
            "broken promises",
            "lack of affection",
            "forgotten occasions",
        ),
        "Ideal way to end the day?": (
            "a long talk",
            "cuddling on the sofa",
            "partner handles dinner",
            "a small surprise",
        ),
    },
    "Attachment Style": {
        "When my partner doesn't reply for hours I...": (
            "stay calm",
            "feel a bit uneasy",
            "assume the worst",
            "feel relieved to have space",
        ),
        "In conflict I tend to...": ("talk it through", "need reassurance", "withdraw", "go quiet"),
        "Depending on my partner feels...": ("comfortable", "risky", "necessary", "uncomfortable"),
    },
    "Conflict Style": {
        "During an argument I usually...": (
            "raise my voice",
            "shut down",
            "look for a compromise",
            "try to fix it quickly",
        ),
        "After a fight I need...": ("space", "a hug", "to talk it out", "an apology"),
        "The topic we fight about most is...": ("chores", "money", "time together", "family", "phones"),
    },
    "Communication Check": {
        "How often do you have uninterrupted conversations?": ("daily", "weekly", "rarely", "never"),
        "Do you feel heard by your partner?": ("always", "mostly", "sometimes", "rarely"),
        "How do you raise a problem?": ("directly", "with hints", "I avoid it", "when I'm already upset"),
    },
    "Relationship Health": {
        "How satisfied are you overall (1-10)?": tuple(str(n) for n in range(1, 11)),
        "How much fun do you have together?": ("a lot", "some", "not much"),
        "Do you feel like a team?": ("yes", "mostly", "not lately"),
    },
}

QUIZ_SUMMARIES: dict[str, tuple[str, ...]] = {
    "Love Languages": (
        "Your primary love language appears to be {a0}. You feel most cared for when your partner expresses love "
        "that way. Share this result with {partner} and ask about theirs: knowing each other's language helps "
        "you aim your efforts where they land.",
        "You value {a0} most, and {a1} hurts the most. Try telling {partner} one concrete example of what makes "
        "you feel loved this week.",
    ),
    "Attachment Style": (
        "Your answers suggest a tendency to {a1} during conflict. That's a common pattern. Letting your partner "
        "know what reassures you can help you both feel secure.",
        "You lean towards a secure style with moments of worry. Notice what triggers the worry and share it "
        "gently rather than acting on it.",
    ),
    "Conflict Style": (
        "When conflict starts you tend to {a0}, and afterwards you need {a1}. Telling {partner} this in a calm "
        "moment means they can give you what you need next time.",
        "Your most frequent topic is {a2}. Recurring topics often point to an underlying need worth exploring "
        "together.",
    ),
    "Communication Check": (
        "You have uninterrupted conversations {a0}. Even ten focused minutes a day can raise how heard you both feel.",
        "You raise problems {a2}. Practising gentle, early conversations can prevent small issues from growing.",
    ),
    "Relationship Health": (
        "You rated your relationship {a0} out of 10. Focus on one area, such as fun or teamwork, and plan a "
        "small step together this week.",
        "Overall satisfaction {a0}/10. Celebrate what works and pick one thing to improve together.",
    ),
}

# --- conversations -------------------------------------------------------------------------------

CONVO_OPENERS: dict[str, tuple[str, ...]] = {
    "communication": (
        "How do I get {partner} to open up when something is bothering them?",
        "We keep talking past each other. How can we communicate better?",
    ),
    "conflict": (
        "{partner} and I keep having the same fight about chores. How do we break the cycle?",
        "How do I apologise after a fight when I still think I was partly right?",
    ),
    "quality_time": (
        "We never spend real time together anymore. Any ideas that don't cost much?",
        "What are good date ideas for a couple with very different interests?",
    ),
    "intimacy": (
        "How do I tell {partner} I want more affection without making them feel criticised?",
        "We feel more like roommates lately. How do we get the spark back?",
    ),
    "finances": (
        "{partner} and I fight about money constantly. How should we handle finances as a couple?",
        "Should we merge our bank accounts?",
    ),
    "household": (
        "How do we split chores fairly when we both work full time?",
        "I feel like I carry all the mental load at home. How do I raise it?",
    ),
    "family": (
        "My in-laws keep interfering. How do I talk to {partner} about it?",
        "How do we handle holidays between two families without anyone getting hurt?",
    ),
    "parenting": (
        "Since the baby arrived we barely connect. Is that normal?",
        "{partner} and I disagree about discipline. How do we get on the same page?",
    ),
    "long_distance": (
        "Any tips for making long distance work? {partner} is in {city} for a year.",
        "How do I stop getting anxious when {partner} doesn't reply for hours?",
    ),
    "trust": (
        "I found out {partner} lied about something small. How do we rebuild trust?",
        "How do I deal with jealousy when {partner} spends time with {friend}?",
    ),
    "work_stress": (
        "My job at {workplace} is taking over my life and {partner} feels neglected. What can I do?",
        "How do I support {partner} through burnout?",
    ),
    "appreciation": (
        "How can I show {partner} I appreciate them more?",
        "What are small daily habits that keep a relationship strong?",
    ),
    "future_plans": (
        "{partner} wants to move abroad and I'm not sure. How do we decide together?",
        "How do we talk about whether we want kids?",
    ),
}

# The coach's first words on a topic: it shows it understood what the question is about.
CONVO_TOPIC_ACKS: dict[str, tuple[str, ...]] = {
    "communication": (
        "Feeling unheard by your partner is painful, and wanting to communicate better is a great goal.",
        "Communication struggles are one of the most common things couples work on.",
    ),
    "conflict": (
        "Repeating the same fight is exhausting, and it usually means an underlying need isn't being met.",
        "Apologising and repairing after a fight is a skill, and it's one you can build together.",
    ),
    "quality_time": (
        "Making real time for each other can be hard when life is busy, and it matters a lot.",
        "Finding shared time that works for both of you is very doable, even with different interests.",
    ),
    "intimacy": (
        "Wanting more closeness is completely natural, and it's thoughtful of you to raise it kindly.",
        "Feeling like roommates happens to many couples, and closeness can be rebuilt step by step.",
    ),
    "finances": (
        "Money is one of the most common sources of tension for couples, so you're not alone in this.",
        "Deciding how to share finances is a big step, and there's no single right answer.",
    ),
    "household": (
        "Feeling that chores or the mental load aren't shared fairly can build real resentment.",
        "Splitting housework when you both work full time is a challenge many couples face.",
    ),
    "family": (
        "Family pressure can put a lot of strain on a relationship, and it helps to face it as a team.",
        "Balancing two families over the holidays is hard, and it's caring of you to think about everyone.",
    ),
    "parenting": (
        "It's very common for couples to feel disconnected after a baby arrives. You're not failing.",
        "Disagreeing about parenting is normal, and getting on the same page is worth the effort.",
    ),
    "long_distance": (
        "Long distance takes extra effort, and it's great that you're looking for ways to stay close.",
        "Anxiety when messages go unanswered is very understandable in a long-distance relationship.",
    ),
    "trust": (
        "Trust can feel shaken even by small lies, and it can be rebuilt with honesty and consistency.",
        "Jealousy is a painful feeling, and it's good that you want to handle it with care.",
    ),
    "work_stress": (
        "When work takes over, it's natural that your relationship feels the strain too.",
        "Supporting a partner through burnout is caring, and it's important to look after yourself too.",
    ),
    "appreciation": (
        "It's lovely that you want to show more appreciation. Small, regular gestures matter most.",
        "Daily habits of kindness and appreciation are some of the strongest predictors of a happy couple.",
    ),
    "future_plans": (
        "Big decisions like moving can bring up a lot for both of you, and it's wise to decide together.",
        "Talking about whether you want children is important, and it's good you want to do it openly.",
    ),
}

CONVO_FIRST_REPLIES: tuple[str, ...] = (
    "Can you tell me a bit more about what usually happens when this comes up?",
    "It sounds like it's been weighing on you. What have you tried so far?",
    "I'm glad you reached out about this. Before I suggest anything, how do you think {partner} sees the situation?",
    "This is something many couples struggle with, so you're not alone. What would a good outcome look like for you?",
)

CONVO_DETAILS: tuple[str, ...] = (
    "Usually one of us gets defensive and then we both shut down.",
    "I've tried bringing it up calmly but {partner} says I'm overreacting.",
    "We talked about it once but nothing changed.",
    "Honestly I haven't said anything yet, I don't want to start a fight.",
    "{friend} suggested we see a counsellor but I'm not sure we need that.",
    "It mostly happens on weeknights when we're both exhausted from work.",
    "I want us to feel like a team again, that's all.",
    "Last {day} it ended with both of us in separate rooms.",
)

# (user follow-up, the coach's answer to that follow-up)
CONVO_FOLLOWUPS: tuple[tuple[str, str], ...] = (
    (
        "That makes sense. But what if {partner} gets defensive when I bring it up?",
        "Defensiveness usually comes from feeling blamed. Starting with appreciation, then sharing your feeling "
        "and a specific request, makes it easier for {partner} to hear you. If it escalates, it's fine to pause "
        "and come back later.",
    ),
    (
        "I'll try that. What if it doesn't work the first time?",
        "It's normal for new habits to feel awkward at first. Give it a few weeks, and talk together about what's "
        "working and what you'd change. One attempt that goes badly doesn't mean the idea is wrong.",
    ),
    (
        "That's helpful. Should we do this every week?",
        "A weekly rhythm works well for many couples: short, regular, and low-pressure. Pick a time that suits "
        "both of you and protect it.",
    ),
    (
        "How do I start the conversation without it sounding like an accusation?",
        "You might open with something like: 'I've been thinking about us and I'd love to talk about something "
        "that matters to me. Is now a good time?' Asking first helps {partner} feel respected.",
    ),
    (
        "What if {partner} just says everything is fine?",
        "Then you can gently share what you've noticed and why it matters to you, without pushing for an answer "
        "right away. Letting {partner} know the door is open often makes it easier for them to come back to it.",
    ),
)

# The coach's second turn in a conversation: acknowledges what the user just described.
CONVO_VALIDATIONS: tuple[str, ...] = (
    "That sounds really frustrating, and it makes sense that you'd want to change the pattern.",
    "Thank you for explaining. It's clear you want things to feel better for both of you.",
    "That's a very common cycle, and the good news is that small changes can interrupt it.",
    "I can hear how much effort you're already putting in.",
)

# What an attentive coach adds to a reply: it names the feeling, reflects it back and says it is fair.
# Appended (the reply's opening still answers the message).
CONVO_EMPATHY: tuple[str, ...] = (
    "It sounds like this has been really frustrating for you, and that makes complete sense.",
    "I hear how much this matters to you; feeling hurt by it is completely understandable.",
    "It sounds like you're carrying a lot of worry about this, and your feelings are valid.",
    "That sounds exhausting, and it makes sense that you'd want something to change.",
    "It seems like you've felt lonely in this for a while, and that's a fair feeling to have.",
    "I hear that you're disappointed, and it's understandable given how hard you've tried.",
    "It sounds like part of you is anxious about how {partner} will react, which makes sense.",
    "That sounds painful, and wanting to feel close again is a completely valid need.",
)

CONVO_THANKS: tuple[str, ...] = (
    "Thank you, this really helps.",
    "Thanks, I'll talk to {partner} tonight.",
    "That's really useful, I feel calmer now.",
    "Great, I'll let you know how it goes.",
)

CONVO_CLOSINGS: tuple[str, ...] = (
    "You're very welcome. It's clear how much you care about {partner}. I'd love to hear how it goes.",
    "I'm glad it helps. Be gentle with yourself and with each other as you try this.",
    "Good luck! Small steps add up. Check in any time.",
)

# --- feedback ------------------------------------------------------------------------------------

FEEDBACK_COMMENTS_GOOD: tuple[str, ...] = (
    "This really helped, we tried it the same evening.",
    "Great advice, {partner} and I actually talked it through.",
    "Spot on. The pause signal idea saved our weekend.",
    "We did the suggestion and it worked better than I expected.",
)

FEEDBACK_COMMENTS_NOT_TRIED: tuple[str, ...] = (
    "Helpful and kind, thank you.",
    "Good ideas, we haven't had a chance to try them yet.",
    "Made me feel less alone with this.",
)

FEEDBACK_COMMENTS_BAD: tuple[str, ...] = (
    "Felt a bit generic.",
    "Not really relevant to our situation.",
    "Too long, I just wanted a quick tip.",
    "Didn't help, we still fought.",
)

# Low-quality app output: the model sometimes answered with next to nothing.
LOW_QUALITY_REPLIES: tuple[str, ...] = ("", "ok", "Thanks for sharing.", "Noted.", "👍", "Good.")
LOW_QUALITY_REFLECTIONS: tuple[str, ...] = ("fine", "ok", ".", "meh", "nothing today", "busy")

# Personal details dropped into free text (the scrubber's work).
CONTACT_SENTENCES: tuple[str, ...] = (
    " You can reach me at {email} if you want to follow up.",
    " My number is {phone} if the coach needs it.",
    " {partner}'s email is {partner_email} by the way.",
    " Text me on {phone}.",
    " We live at {address}, near the park, in case that matters for date ideas.",
    " {friend} said to call her at {friend_phone}.",
)

SIGNOFFS: tuple[str, ...] = (" — {first}", " xx {first}", " ({first})")

PLACES: tuple[str, ...] = (
    "the lake",
    "the botanical garden",
    "the old town",
    "the farmers market",
    "the beach",
    "the hills",
    "the riverside",
    "the museum",
    "the park",
    "our favourite café",
)

DAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
